#!/usr/bin/env python3
"""bench/runner-layout.py - writes src/runner/hot.ld, the linker script that
puts the code an idle berth-runner runs next to each other in its static
binary (see docs/performance.md, "Runner RSS").

    bench/runner-layout.py CALLGRIND.OUT... > src/runner/hot.ld

Input: callgrind profiles of a static berth-runner (bench/runner-layout.sh
makes them: start, registration, ws:// and wss:// handshakes, heartbeats,
precheck, fingerprint). Every function that ran is mapped to the archive
member that defines it (nm on the same Debian .a files the runner links);
the script lists those members' .text in one output section placed before
.text. A member is the unit: Debian's archives are not built with
-ffunction-sections, so a member's code is one input section.

glibc's string functions are chosen per CPU at start (ifunc): valgrind's
CPU has AVX2 and no AVX-512, so for each variant seen (strlen-avx2.o) all
its siblings (strlen-evex.o, strlen-sse2.o, ...) are listed too.

A member named here that a later Debian update renames is simply not
matched: the binary stays correct, only less compact."""
import glob
import os
import re
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"
ARCHIVES = ["libwebsockets", "libssl", "libcrypto", "libcap", "libz", "libzstd",
            "libjansson", "libsodium", "libc", "libgcc_eh", "libgcc"]
# gcc's own archives (the unwinder that crtbeginT registers frames with at
# start) are in gcc's directory, not LIBDIR
GCCDIR = (glob.glob("/usr/lib/gcc/x86_64-linux-gnu/*/libgcc_eh.a") or ["/nonexistent/x"])[0]
GCCDIR = os.path.dirname(GCCDIR)
# glibc's static start-up sets up the vDSO as a link map (_dl_new_object)
# and looks its symbols up (_dl_lookup_symbol_x); valgrind gives its
# guest no vDSO, so callgrind never lists them (perf's page-fault trace
# of a real run did)
VDSO_ONLY = ["dl-object.o", "dl-lookup.o"]
# the start-up objects are not archive members: _start and the init and
# fini code always run, and where they land decides which 64 KiB window
# of .text the first fault maps
STARTUP = ["*crt1.o(.text .text.*)", "*crti.o(.text .text.*)", "*crtbeginT.o(.text .text.*)",
           "*crtend.o(.text .text.*)", "*crtn.o(.text .text.*)"]
BUILD = os.environ.get("BUILD", "build-bench")


def touched(paths):
    names = set()
    pat = re.compile(r"^c?fn=\(\d+\) (.+)$")
    for p in paths:
        with open(p, errors="replace") as f:
            for line in f:
                m = pat.match(line.rstrip("\n"))
                if m:
                    names.add(m.group(1).split("'")[0])
    return names


def archive_path(archive):
    return f"{GCCDIR}/{archive}.a" if archive.startswith("libgcc") else f"{LIBDIR}/{archive}.a"


def members(archive):
    """symbol -> member, and the member list in archive order."""
    if not os.path.exists(archive_path(archive)):
        return {}, []
    out = subprocess.run(["nm", "-A", "--defined-only", archive_path(archive)],
                         capture_output=True, text=True).stdout
    sym = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[-2] not in "tTwWiI":
            continue
        member = parts[0].split(":")[1]
        sym.setdefault(parts[-1], member)
    listing = subprocess.run(["ar", "t", archive_path(archive)],
                             capture_output=True, text=True).stdout.split()
    return sym, listing


def own(names):
    """berth's own objects whose code ran: the runner's (BUILD's object
    files) and libberthcore.a's members; the rest of berth's code (deploy,
    edge, the log store's queries: nothing an idle runner runs) stays in
    .text, so the packed region holds only what runs."""
    objs, core = [], []
    for o in sorted(glob.glob(f"{BUILD}/CMakeFiles/berth-runner.dir/src/runner/*.o")):
        # built with -ffunction-sections: each function is .text.NAME
        out = subprocess.run(["nm", "--defined-only", o], capture_output=True, text=True).stdout
        fns = sorted({p[-1] for p in (line.split() for line in out.splitlines())
                      if len(p) >= 3 and p[-2] in "tT" and p[-1] in names})
        if fns:
            objs.append((os.path.basename(o), fns))
    lib = f"{BUILD}/libberthcore.a"
    if os.path.exists(lib):
        out = subprocess.run(["nm", "-A", "--defined-only", lib], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) >= 3 and p[-2] in "tT" and p[-1] in names:
                m = p[0].split(":")[1]
                if m not in core:
                    core.append(m)
    if not objs:  # no build to read: all of berth's own code
        return ["*libberthcore.a:*(.text .text.*)"], ["*src/runner/*.c.o(.text .text.*)"]
    return ([f"*libberthcore.a:{m}(.text .text.*)" for m in sorted(core)],
            [f"*src/runner/{o}(" + " ".join(f".text.{f} .text.*.{f}" for f in fns) + ")"
             for o, fns in objs])


def main():
    names = touched(sys.argv[1:])
    core, objs = own(names)
    hot = []
    for a in ARCHIVES:
        sym, listing = members(a)
        seen = {sym[n] for n in names if n in sym}
        if a == "libc":
            variant = re.compile(r"^([a-z0-9_]+)-(avx|avx2|evex|sse2|sse4|sse42|ssse3)")
            fams = {variant.match(m).group(1) for m in seen if variant.match(m)}
            seen |= {m for m in listing
                     if variant.match(m) and variant.match(m).group(1) in fams}
        if a == "libc":  # run only where there is a vDSO, which valgrind does not give
            seen |= set(VDSO_ONLY)
        hot += [(a, m) for m in listing if m in seen]
    print("/* src/runner/hot.ld - generated by bench/runner-layout.py from callgrind")
    print(" * runs of an idle berth-runner (ws://, wss:// pinned and system CAs): the archive members")
    print(" * whose code it runs, packed together ahead of .text. Used only for the")
    print(" * static link (CMakeLists.txt). %d members. */" % len(hot))
    print("SECTIONS\n{\n  .text.berth_hot :\n  {")
    for x in STARTUP + core + objs:
        print(f"    {x}")
    for a, m in hot:
        print(f"    *{a}.a:{m}(.text .text.*)")
    print("  }\n}\nINSERT BEFORE .text;")


if __name__ == "__main__":
    main()
