#!/usr/bin/env python3
"""Scanner indexing benchmark (issue #14): index a 5-layer, ~200 MiB image with
`slipway admin scan-layers` and compare with `tar -tzf` over the same layers (the time just to
read them). Target: indexing within 1.5x of reading.

The layers are made here: incompressible files of mixed sizes (so gzip and the tar walk cost
what real layers cost), thousands of small files, a dpkg status with 600 packages, 200 Python
dist-infos, npm packages and a jar with pom.properties.

    SLIPWAY_BIN=.build-release/release/slipway Benchmarks/scanner_index_bench.py [--rounds 5] [--size-mib 200]
"""
import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def make_layers(directory, total_mib):
    rng = random.Random(1)
    per_layer = total_mib * (1 << 20) // 5
    paths = []
    for n in range(5):
        path = os.path.join(directory, f"layer{n}.tar.gz")
        with tarfile.open(path, "w:gz", compresslevel=1) as tar:
            written = 0
            if n == 0:
                add(tar, "etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
                status = "".join(f"Package: pkg{i}\nStatus: install ok installed\nSource: src{i % 300}\n"
                                 f"Version: 1.{i}.0-1+deb12u1\nDescription: package {i}\n long text\n\n" for i in range(600))
                add(tar, "var/lib/dpkg/status", status.encode())
            if n == 2:
                for i in range(200):
                    add(tar, f"usr/lib/python3/dist-packages/mod{i}-1.{i}.dist-info/METADATA",
                        f"Metadata-Version: 2.1\nName: mod{i}\nVersion: 1.{i}\n\n".encode())
                for i in range(300):
                    add(tar, f"app/node_modules/p{i}/package.json", f'{{"name": "p{i}", "version": "1.0.{i}"}}'.encode())
                    add(tar, f"app/node_modules/p{i}/index.js", b"module.exports = 1;\n" * 20)
            if n == 3:
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    z.writestr("META-INF/maven/org.example/lib/pom.properties", "groupId=org.example\nartifactId=lib\nversion=1.0\n")
                    z.writestr("org/example/Lib.class", os.urandom(200_000))
                add(tar, "opt/app/lib.jar", buf.getvalue())
            i = 0
            while written < per_layer:
                size = rng.choice([200, 4_000, 40_000, 400_000, 4_000_000])
                add(tar, f"data/l{n}/d{i % 50}/f{i}.bin", rng.randbytes(size))
                written += size
                i += 1
        paths.append(path)
    return paths


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed: {result.stderr.decode()[-2000:]}")
    return elapsed, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=200)
    args = parser.parse_args()
    slipway = os.environ.get("SLIPWAY_BIN", ".build-release/release/slipway")
    with tempfile.TemporaryDirectory() as directory:
        layers = make_layers(directory, args.size_mib)
        compressed = sum(os.path.getsize(p) for p in layers) / (1 << 20)
        tar_times, scan_times = [], []
        out = b""
        for _ in range(args.rounds):  # alternating, so both see the same machine state
            tar_times.append(sum(timed(["tar", "-tzf", p])[0] for p in layers))
            elapsed, out = timed([slipway, "admin", "scan-layers", *layers])
            scan_times.append(elapsed)
        packages = out.count(b'"addedBy"')
        tar_median, scan_median = statistics.median(tar_times), statistics.median(scan_times)
        print(f"layers: 5, {args.size_mib} MiB of files, {compressed:.0f} MiB compressed; {packages} packages found")
        print(f"tar -tzf (read only):        median {tar_median:.2f} s  (rounds: {', '.join(f'{t:.2f}' for t in tar_times)})")
        print(f"slipway admin scan-layers:   median {scan_median:.2f} s  (rounds: {', '.join(f'{t:.2f}' for t in scan_times)})")
        print(f"indexing / reading: {scan_median / tar_median:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
