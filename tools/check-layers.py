#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks the source tree's layering and its include graph (TAP).

  check-layers.py SOURCE_ROOT

1. Every #include "derm-*.h" in src/LAYER/ names a header of LAYER or of a
   layer it may use (docs/architecture.md, "Layers"): the arrows point down.
2. The headers' include graph (header -> headers it includes) has no cycle.
3. No GTK outside src/app, no SQLite outside src/store, no libtorch outside
   src/engine.
4. No circle among modules (a module is NAME.c with NAME.h and
   NAME-private.h; it depends on the modules whose headers it includes):
   the window's files once included each other in a circle.
"""
import os
import re
import sys

ALLOWED = {
    "core": {"core"},
    "store": {"core", "store"},
    "engine": {"core", "engine"},
    "train": {"core", "engine", "train"},
    "service": {"core", "store", "engine", "train", "service"},
    "cli": {"core", "store", "engine", "train", "service", "cli"},
    "app": {"core", "store", "engine", "train", "service", "app"},
}
FORBIDDEN = {  # system headers only one layer may include
    "gtk/": "app", "adwaita.h": "app", "sqlite3.h": "store", "torch/": "engine",
}
# Two modules that use each other on purpose: the decision rule is fitted
# with the metrics, and the metrics score predictions made with the rule.
MUTUAL = {frozenset({"derm-decision", "derm-metrics"})}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_of(name, headers):
    """NAME.c with NAME.h; a part without a header of its own (derm-page-case.c)
    belongs to the longest prefix that has one (derm-page)."""
    stem = re.sub(r"(-private)?\.(c|h|cpp|hpp)$", "", name)
    probe = stem
    while "-" in probe:
        if probe + ".h" in headers or probe + ".hpp" in headers:
            return probe
        probe = probe.rsplit("-", 1)[0]
    return stem


def main():
    root = sys.argv[1]
    src = os.path.join(root, "src")
    owner = {}  # header name -> layer
    files = []
    for layer in sorted(os.listdir(src)):
        d = os.path.join(src, layer)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h", ".cpp", ".hpp")):
                files.append((layer, name, os.path.join(d, name)))
                if name.endswith((".h", ".hpp")):
                    owner[name] = layer
    # Generated headers (config.h, derm-resources.h, the enum types) belong to
    # the layer that generates them or to none.
    generated = {"config.h": None, "derm-resources.h": "app", "derm-enum-types.h": "app"}

    upward, foreign, graph, modules = [], [], {}, {}
    for layer, name, path in files:
        text = open(path, encoding="utf-8").read()
        module = module_of (name, owner)
        deps = modules.setdefault(module, set())
        for kind, inc in INCLUDE.findall(text):
            base = os.path.basename(inc)
            if kind == '"' and base in owner:
                dep = re.sub(r"(-private)?\.(h|hpp)$", "", base)
                if dep != module:
                    deps.add(dep)
            if kind == '"':
                target = owner.get(base, generated.get(base, "?"))
                if target == "?":
                    upward.append("%s/%s includes unknown \"%s\"" % (layer, name, inc))
                elif target is not None and target not in ALLOWED.get(layer, {layer}):
                    upward.append("%s/%s includes %s/%s" % (layer, name, target, base))
                if name.endswith((".h", ".hpp")) and base in owner:
                    graph.setdefault(name, set()).add(base)
            else:
                for prefix, only in FORBIDDEN.items():
                    if inc.startswith(prefix) and layer != only:
                        foreign.append("%s/%s includes <%s> (only %s may)" % (layer, name, inc, only))

    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for h in sorted(graph):
        if h not in state:
            visit(h, [h])

    # Module circles: strongly connected components of more than one module.
    circles, index, low, stack, on, counter = [], {}, {}, [], set(), [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(modules.get(v, ())):
            if w not in modules:
                continue
            if w not in index:
                strong(w)
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
            if len(comp) > 1 and frozenset(comp) not in MUTUAL:
                circles.append(" <-> ".join(sorted(comp)))

    for m in sorted(modules):
        if m not in index:
            strong(m)

    print("1..4")
    n_inc = sum(len(v) for v in graph.values())
    for i, (what, bad) in enumerate((("includes point down the layers (%d files)" % len(files), upward),
                                     ("no cycle among %d headers (%d header includes)" % (len(owner), n_inc), cycles),
                                     ("GTK, SQLite and libtorch each in one layer", foreign),
                                     ("no circle among %d modules" % len(modules), circles)), 1):
        print(("ok %d - %s" if not bad else "not ok %d - %s") % (i, what))
        for b in bad:
            print("# " + b)
    return 1 if upward or cycles or foreign or circles else 0


if __name__ == "__main__":
    sys.exit(main())
