"""The control plane's TLS port (istiod's 15012) against its plaintext port (15010): what the
TLS relay (``ca.tls_port``: ``ssl`` with optional client certificates, bytes relayed to the
gRPC port) costs the control plane.

A child process (pinned to one CPU, as the control plane would share a core) runs a grpc.aio
server with two methods and the real ``SecureXdsPort`` in front of it:
    - ``Blob``: a 5 MB response, like a whole RouteConfiguration pushed at 1000 services;
    - ``Ping``: a few bytes, like an ACK or a CSR's transport share.
The parent, over one channel per port and in interleaved rounds, fetches ``--blobs`` blobs and
makes ``--pings`` sequential pings, and reads the child's CPU time (``/proc/<pid>/stat``) around
each phase. Printed per port: blob throughput (MB/s), server CPU per MB, ping p50/p99 (ms), and
the TLS/plaintext ratios.

Run: ``.venv/bin/python benchmarks/xds_tls.py [--rounds 5 --blobs 20 --pings 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

BLOB = 5 * 1024 * 1024
_CHILD = "--serve"


async def serve(state: Path) -> None:
    from mainsail.ca.service import CertificateAuthority
    from mainsail.ca.serving import ROOT_CERT_PATH, istiod_dns_names, serving_host_ips
    from mainsail.ca.settings import CaSettings
    from mainsail.ca.tls_port import SecureXdsPort

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    blob = os.urandom(BLOB)

    async def blob_handler(request: bytes, context: object) -> bytes:
        return blob

    async def ping_handler(request: bytes, context: object) -> bytes:
        return request

    server = grpc.aio.server(
        options=[("grpc.max_send_message_length", 2 * BLOB), ("grpc.keepalive_time_ms", 30000)]
    )
    handlers = {
        "Blob": grpc.unary_unary_rpc_method_handler(blob_handler),
        "Ping": grpc.unary_unary_rpc_method_handler(ping_handler),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Bench", handlers),)
    )
    plain = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    authority = CertificateAuthority(CaSettings(state_dir=state / "ca"))
    tls = SecureXdsPort(
        authority,
        host="127.0.0.1",
        port=0,
        upstream=("127.0.0.1", plain),
        root_cert_file=state / ROOT_CERT_PATH,
        dns_names=istiod_dns_names(),
        ip_addresses=serving_host_ips("127.0.0.1"),
    )
    await tls.start()
    print(plain, tls.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await tls.close()
    await server.stop(None)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    channel: grpc.aio.Channel, pid: int, blobs: int, pings: int
) -> tuple[float, float, list[float]]:
    blob_call = channel.unary_unary("/bench.Bench/Blob", None, None)
    ping_call = channel.unary_unary("/bench.Bench/Ping", None, None)
    await ping_call(b"warm", timeout=10)
    cpu, start = cpu_seconds(pid), time.perf_counter()
    for _ in range(blobs):
        assert len(await blob_call(b"", timeout=60)) == BLOB
    elapsed, cpu_used = time.perf_counter() - start, cpu_seconds(pid) - cpu
    latencies = []
    for _ in range(pings):
        t = time.perf_counter()
        await ping_call(b"x" * 64, timeout=10)
        latencies.append((time.perf_counter() - t) * 1000)
    megabytes = blobs * BLOB / 1e6
    return megabytes / elapsed, cpu_used * 1000 / megabytes, latencies


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as state:
        child = subprocess.Popen(
            [sys.executable, __file__, _CHILD, state],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            plain, tls = (int(p) for p in child.stdout.readline().split())
            root = (Path(state) / "var/run/secrets/istio/root-cert.pem").read_bytes()
            options = [("grpc.max_receive_message_length", 2 * BLOB)]
            channels = {
                "plaintext": grpc.aio.insecure_channel(f"127.0.0.1:{plain}", options=options),
                "tls": grpc.aio.secure_channel(
                    f"127.0.0.1:{tls}",
                    grpc.ssl_channel_credentials(root_certificates=root),
                    options=[
                        *options,
                        ("grpc.ssl_target_name_override", "istiod.istio-system.svc"),
                    ],
                ),
            }
            results: dict[str, list[tuple[float, float, list[float]]]] = {k: [] for k in channels}
            for _ in range(args.rounds):
                for name, channel in channels.items():
                    results[name].append(await measure(channel, child.pid, args.blobs, args.pings))
            summary = {}
            for name, rounds in results.items():
                rate = statistics.median(r[0] for r in rounds)
                cpu = statistics.median(r[1] for r in rounds)
                pings = sorted(x for r in rounds for x in r[2])
                p50, p99 = pings[len(pings) // 2], pings[int(len(pings) * 0.99)]
                summary[name] = (rate, cpu, p50, p99)
                print(
                    f"{name:>9}: {rate:7.1f} MB/s  server CPU {cpu:6.2f} ms/MB  "
                    f"ping p50 {p50:.3f} ms  p99 {p99:.3f} ms"
                )
            plain_s, tls_s = summary["plaintext"], summary["tls"]
            print(
                f"tls/plaintext: throughput x{tls_s[0] / plain_s[0]:.2f}, "
                f"server CPU per MB x{tls_s[1] / plain_s[1]:.2f}, ping p50 x{tls_s[2] / plain_s[2]:.2f}"
            )
            for channel in channels.values():
                await channel.close(None)
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(30)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == _CHILD:
        asyncio.run(serve(Path(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blobs", type=int, default=20)
    parser.add_argument("--pings", type=int, default=500)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
