#!/usr/bin/env python3
"""Import graph of one crate's modules: layers must point one way.

Usage: scripts/import-graph.py CRATE_SRC_DIR [--print]

Reads the `mod` declarations from the crate root (lib.rs, else main.rs) down,
and every `crate::…`, `super::…` and `self::…` path in each module file
(`use` lines, grouped `use crate::{a, b::C}` included, and paths written
inline in code). Each path becomes an edge from the module of the file to the
deepest module the path names. Fails (exit 1) when

- the graph has a cycle other than a parent module and its own children
  (an edge from a module to one of its ancestors, `use super::…`, is how a
  child uses its parent and is not counted), or
- anything outside `cmd/`, `cli.rs` and `main.rs` of the crate uses clap or
  indicatif, or prints to stderr (`eprint!`, `eprintln!`, `std::io::stderr`):
  below the command line, warnings are returned as data.

`--print` lists every edge as well. Comments, string literals and unit-test
modules (`#[cfg(test)] mod …`) are ignored.
"""
import os
import re
import sys

# Where the command line lives: the only places allowed to parse flags, draw
# progress bars and print to stderr.
FRONT = ("cmd/", "cli.rs", "main.rs")
FORBIDDEN = [
    (re.compile(r"\bclap(_complete|_mangen)?::|\buse\s+clap\b"), "uses clap"),
    (re.compile(r"\bindicatif::|\buse\s+indicatif\b"), "uses indicatif"),
    (re.compile(r"\beprintln!|\beprint!|\bio::stderr\b|\bstd::io::stderr\b"), "prints to stderr"),
]


def without_tests(code):
    """`code` without its `#[cfg(test)] mod … { … }` modules: unit tests may
    use anything (the application error to check an exit code, say)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{", code)
        if not m:
            return code
        depth, j = 0, m.end() - 1
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        code = code[: m.start()] + re.sub(r"[^\n]", " ", code[m.start(): j + 1]) + code[j + 1:]


def strip(src):
    """The source with comments, string and char literals blanked out (line
    structure kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        m = re.match(r'b?r(#*)"', src[i:i + 8])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", src[i:j])[2:])
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + re.sub(r"[^\n]", " ", src[i + 1:j - 1] if j - 1 > i else ""))
            i = j + 1
            continue
        if c == "'":
            # A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", src[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


class Crate:
    def __init__(self, root_dir):
        self.root_dir = root_dir
        self.files = {}  # module path tuple -> file path
        self.code = {}  # module path tuple -> stripped source
        self._reexports = {}
        root = None
        for name in ("lib.rs", "main.rs"):
            if os.path.exists(os.path.join(root_dir, name)):
                root = name
                break
        if root is None:
            sys.exit(f"import-graph: no lib.rs or main.rs in {root_dir}")
        self.load((), os.path.join(root_dir, root), root_dir)
        # A binary next to a library is its own crate root over the library:
        # check it for the front-end rule, not for edges.
        self.extra = []
        if root == "lib.rs" and os.path.exists(os.path.join(root_dir, "main.rs")):
            self.extra.append(os.path.join(root_dir, "main.rs"))

    def load(self, path, file, child_dir):
        with open(file, encoding="utf-8") as f:
            code = without_tests(strip(f.read()))
        self.files[path] = file
        self.code[path] = code
        for m in re.finditer(r"(#\[path\s*=\s*[^\]]*\]\s*)?\b(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            if m.group(1):
                continue  # a #[path] module (test support outside the tree)
            name = m.group(2)
            cands = [os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")]
            found = [c for c in cands if os.path.exists(c)]
            if not found:
                sys.exit(f"import-graph: {file}: mod {name}: no file")
            self.load(path + (name,), found[0], os.path.join(child_dir, name))

    def reexports_of(self, module):
        """name -> absolute path for every `pub use` of `module`."""
        if module not in self._reexports:
            out = {}
            for vis, tree in use_trees(self.code[module]):
                if not vis:
                    continue
                for p in expand(tree):
                    if not p:
                        continue
                    if p[0] not in ("crate", "super", "self") and module + (p[0],) not in self.files:
                        continue  # another crate's item
                    if p[0] not in ("crate", "super", "self"):
                        p = ["self"] + p
                    absolute = self.absolute(module, p)
                    if absolute:
                        out[absolute[-1]] = absolute
            self._reexports[module] = out
        return self._reexports[module]

    def resolve(self, path, depth=0):
        """The module that defines what an absolute path names: the deepest
        module on the path, through `pub use` re-exports."""
        best, i = (), 0
        while i < len(path) and tuple(path[:i + 1]) in self.files:
            i += 1
            best = tuple(path[:i])
        if i < len(path) and depth < 8:
            target = self.reexports_of(best).get(path[i])
            if target is not None:
                return self.resolve(list(target) + list(path[i + 1:]), depth + 1)
        return best

    def uses(self, module):
        """Absolute module paths named in `module`'s file."""
        code = self.code[module]
        paths = []
        for _, tree in use_trees(code):
            for p in expand(tree):
                if p and p[0] in ("crate", "super", "self"):
                    paths.append(p)
        for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*(?:super|\w+))+)", code):
            paths.append(re.sub(r"\s+", "", m.group(1)).split("::"))
        out = []
        for p in paths:
            absolute = self.absolute(module, p)
            if absolute is not None:
                out.append(self.resolve(absolute))
        return out

    def absolute(self, module, p):
        if p[0] == "crate":
            return p[1:]
        # `super` and `self` are relative to the module the file defines.
        base = list(module)
        i = 0
        while i < len(p) and p[i] in ("super", "self"):
            if p[i] == "super":
                if not base:
                    return None
                base.pop()
            i += 1
        return base + p[i:]


def expand(tree):
    """The paths of a use tree `a::{b, c::d as e, f::{g, self}}`, as lists
    of segments (an alias dropped: the path is what matters)."""
    tree = re.sub(r"\s+", " ", tree).strip()
    parts, depth, cur = [], 0, ""
    for ch in tree:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if "{" in part:
            head, _, rest = part.partition("{")
            head = [x.strip() for x in head.split("::") if x.strip()]
            for sub in expand(rest[: rest.rindex("}")]):
                out.append(head + sub)
        else:
            part = re.split(r"\s+as\s+", part)[0]
            segs = [x.strip() for x in part.split("::") if x.strip()]
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            out.append(segs)
    return out


def use_trees(code):
    """(visibility, tree) of every `use` item in `code`."""
    for m in re.finditer(r"(?<![\w:])(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);", code):
        yield m.group(1), m.group(2)


def name(m):
    return "crate" if not m else "::".join(m)


def cycles(nodes, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on, stack, comps = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return comps


def shortest_cycle(comp, edges):
    """One short cycle through the component, for the report."""
    members = set(comp)
    start = comp[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--print" in sys.argv
    if len(args) != 1:
        sys.exit(__doc__)
    crate = Crate(args[0].rstrip("/"))
    edges = {}
    for m in crate.files:
        for target in crate.uses(m):
            is_ancestor = target == m[: len(target)]
            if target == m or is_ancestor:
                continue
            edges.setdefault(m, set()).add(target)
    failed = False
    if show:
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f"  {name(m)} -> {name(t)}")
    comps = cycles(crate.files.keys(), edges)
    for comp in comps:
        failed = True
        print(f"cycle among {len(comp)} modules: {', '.join(name(m) for m in comp)}")
        print(f"  e.g. {' -> '.join(name(m) for m in shortest_cycle(comp, edges))}")
    files = [(crate.files[m], crate.code[m]) for m in crate.files]
    for extra in crate.extra:
        with open(extra, encoding="utf-8") as f:
            files.append((extra, without_tests(strip(f.read()))))
    for file, code in files:
        rel = os.path.relpath(file, crate.root_dir)
        if rel.startswith(FRONT):
            continue
        for pattern, what in FORBIDDEN:
            for m in pattern.finditer(code):
                line = code.count("\n", 0, m.start()) + 1
                print(f"{file}:{line}: {what} below the command line (only {', '.join(FRONT)} may)")
                failed = True
    n_edges = sum(len(v) for v in edges.values())
    verdict = "FAILED" if failed else "ok"
    print(f"import-graph {args[0]}: {len(crate.files)} modules, {n_edges} edges, {len(comps)} cycles: {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
