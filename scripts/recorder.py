#!/usr/bin/env python3
"""A TCP listener for the security tests: it records every connection and every byte it receives
(one line per connection, bytes hex-encoded) in a file and answers nothing useful. Tests point
credentials at it by every route an attacker has and check that the file stays empty.

Usage: recorder.py HOST LOG_FILE  (prints "listening on http://HOST:PORT", serves until killed)
"""
import socket
import sys
import threading

host, log_path = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def serve(conn):
    data = b""
    conn.settimeout(2)
    try:
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                break
    except OSError:
        pass
    with lock, open(log_path, "a") as log:
        log.write(data.hex() + "\n")
    try:
        conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
    conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, 0))
server.listen(16)
open(log_path, "a").close()
print(f"listening on http://{host}:{server.getsockname()[1]}", flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
