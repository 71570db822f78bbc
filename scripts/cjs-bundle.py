#!/usr/bin/python3
"""cjs-bundle.py - wraps a Debian node-* package's CommonJS modules into one
classic browser script, at build time (CMakeLists.txt: the dashboard's
terminal uses Debian's node-xterm this way).

Debian's libjs-xterm 3.8.1 ships as xterm.js only a CommonJS stub
(`require("./public/Terminal")`) that no browser can run, and node-xterm
holds the real modules as separate CommonJS files. This script does what
browserify's core does and nothing more: each module becomes a function
of (exports, require, module) in one table, `require` resolves relative
paths inside the package, and the entries' exports are put on one global.
No code is changed, minified or fetched; the files are the package's.

  cjs-bundle.py PKGDIR GLOBAL OUT NAME=ENTRY [NAME=ENTRY ...]

ENTRY is a path inside PKGDIR, or an absolute path of a module of its own
(no requires), e.g.
  cjs-bundle.py /usr/share/nodejs/xterm BerthXterm xterm.js \\
    Terminal=lib/public/Terminal.js \\
    fit=/usr/share/javascript/xterm/addons/fit/fit.js
"""
import json
import os
import sys


def modules(root):
    out = {}
    for d, _, files in os.walk(os.path.join(root, "lib")):
        for f in sorted(files):
            if f.endswith(".js") and not f.endswith(".test.js"):
                p = os.path.join(d, f)
                out[os.path.relpath(p, root)] = open(p, encoding="utf-8").read()
    return out


LOADER = r"""
  var cache = {};
  function dirname(p) { var i = p.lastIndexOf('/'); return i < 0 ? '' : p.slice(0, i); }
  function norm(p) {
    var out = [];
    p.split('/').forEach(function (s) {
      if (s === '..') out.pop(); else if (s && s !== '.') out.push(s);
    });
    return out.join('/');
  }
  function resolve(from, id) {
    if (id[0] !== '.') throw new Error('cjs-bundle: no module ' + id);
    var p = norm(dirname(from) + '/' + id);
    if (defs[p]) return p;
    if (defs[p + '.js']) return p + '.js';
    if (defs[p + '/index.js']) return p + '/index.js';
    throw new Error('cjs-bundle: no module ' + id + ' from ' + from);
  }
  function load(p) {
    if (cache[p]) return cache[p].exports;
    var module = { exports: {} };
    cache[p] = module;
    defs[p].call(module.exports, module.exports, function (id) { return load(resolve(p, id)); }, module);
    return module.exports;
  }
"""


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    root, glob, out, entries = argv[1], argv[2], argv[3], argv[4:]
    mods = modules(root)
    parts = ["/* Generated at build time by scripts/cjs-bundle.py from %s (Debian's package;"
             " do not edit). */\n(function () {\n'use strict';\nvar defs = {};\n"
             % os.path.basename(os.path.normpath(root))]
    for name in sorted(mods):
        src = mods[name]
        # the source map comments point at files that are not served
        src = "\n".join(l for l in src.split("\n") if not l.startswith("//# sourceMappingURL="))
        parts.append("defs[%s] = function (exports, require, module) {\n%s\n};\n"
                     % (json.dumps(name), src))
    parts.append(LOADER)
    parts.append("  var g = {};\n")
    for e in entries:
        k, _, path = e.partition("=")
        if os.path.isabs(path) and os.path.isfile(path):  # a module from elsewhere
            name = "extra/%s.js" % k
            parts.insert(1, "defs[%s] = function (exports, require, module) {\n%s\n};\n"
                         % (json.dumps(name), open(path, encoding="utf-8").read()))
            mods[name] = ""
            path = name
        if path not in mods:
            sys.stderr.write("cjs-bundle: %s is not in %s\n" % (path, root))
            return 1
        parts.append("  g[%s] = load(%s);\n" % (json.dumps(k), json.dumps(path)))
    parts.append("  self[%s] = g;\n})();\n" % json.dumps(glob))
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
