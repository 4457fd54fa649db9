/**
 * The soak's helper programs, run inside a lab host's namespace with python3
 * (what the lab images have): a VRRP advert flood over a raw socket, and
 * slow console clients beside one well-behaved client.
 */

/** argv: hex-file src count gap. Sends the advert in the file `count` times, every `gap` s, to 224.0.0.18 with TTL 255. */
export const VRRP_SENDER = `
import socket, sys, time
payload = bytes.fromhex(open(sys.argv[1]).read().strip())
src, n, gap = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
for _ in range(n):
    s.sendto(payload, ("224.0.0.18", 0))
    time.sleep(gap)
`;

/**
 * argv: host port tls(0/1) slow-count seconds [good-source]. Keeps
 * \`slow-count\` connections that dribble a request (one byte a second: half
 * of them never finish the TLS handshake, half send a POST head and body byte
 * by byte), reopening each one the console closes; and every 2 s one
 * ordinary GET /api/status that must get a status line within 5 s, from
 * \`good-source\` when given. The console bounds the connections of one
 * client address (16, src/daemon/http-limits.ts) and the slow clients fill
 * that bound: an ordinary client sharing their address is refused by design
 * (20-40 % of its reads were), so it comes from another address. Prints a
 * JSON line of counters every 10 s and at the end; good_refused counts the
 * ordinary reads whose connection the console reset or closed before any
 * answer (a guard's refusal; none are expected from another address).
 */
export const SLOW_CLIENTS = `
import json, socket, ssl, sys, time, selectors
host, port, tls, count, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]), float(sys.argv[5])
good_source = (sys.argv[6], 0) if len(sys.argv) > 6 and sys.argv[6] != "" else None
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
stats = {"good_ok": 0, "good_fail": 0, "good_refused": 0, "slow_opened": 0, "slow_closed_by_server": 0}
REQ = b"POST /api/modules/web/swap HTTP/1.1\\r\\nHost: " + host.encode() + b"\\r\\nContent-Type: application/json\\r\\nContent-Length: 100000\\r\\n\\r\\n" + b"x" * 100000

def open_slow(i):
    s = socket.create_connection((host, port), timeout=5)
    if tls and i % 2 == 1:
        s = ctx.wrap_socket(s, server_hostname=host)
    s.setblocking(False)
    stats["slow_opened"] += 1
    return {"sock": s, "pos": 0, "raw": tls and i % 2 == 0}

def good():
    try:
        s = socket.create_connection((host, port), timeout=5, source_address=good_source)
        if tls:
            s = ctx.wrap_socket(s, server_hostname=host)
        s.settimeout(5)
        s.sendall(b"GET /api/status HTTP/1.1\\r\\nHost: " + host.encode() + b"\\r\\nConnection: close\\r\\n\\r\\n")
        head = s.recv(64)
        s.close()
        if head.startswith(b"HTTP/1.1 "):
            stats["good_ok"] += 1
            return
        if head == b"":
            stats["good_refused"] += 1
    except (ConnectionResetError, ssl.SSLEOFError):
        stats["good_refused"] += 1
    except Exception:
        pass
    stats["good_fail"] += 1

conns = {}
end = time.time() + seconds
next_good = time.time()
next_print = time.time() + 10
while time.time() < end:
    for i in range(count):
        if i not in conns:
            try:
                conns[i] = open_slow(i)
            except Exception:
                pass
    for i, c in list(conns.items()):
        try:
            if c["raw"]:
                c["sock"].send(b"\\x16")
            else:
                c["sock"].send(REQ[c["pos"]:c["pos"] + 1])
                c["pos"] += 1
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except Exception:
            stats["slow_closed_by_server"] += 1
            try:
                c["sock"].close()
            except Exception:
                pass
            del conns[i]
    if time.time() >= next_good:
        good()
        next_good = time.time() + 2
    if time.time() >= next_print:
        print(json.dumps(stats), flush=True)
        next_print = time.time() + 10
    time.sleep(1)
print(json.dumps(stats), flush=True)
`;
