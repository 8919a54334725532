#!/usr/bin/env python3
"""A small HTTP/1.1 file server for Sluice's tests, on 127.0.0.1 and a free port.

It serves the files under ROOT with what `python3 -m http.server` lacks: single byte ranges (206,
Content-Range, 416), a strong ETag and Last-Modified, If-Match (412) and If-Range. A path prefix
asks for misbehaviour, so the tests can exercise what a client does about it:

  /cut/N/PATH          every answer stops after N bytes of its body and drops the connection
  /cut-changing/N/PATH as /cut, and the ETag is new on every request (the object "changes")
  /flaky/K/PATH        the first K requests for PATH answer 500, later ones serve it
  /ignore-range/PATH   answers 200 with the whole file whatever the Range header says
  /redirect/K/PATH     302 to /redirect/K-1/PATH, and /redirect/0/PATH to /PATH
  /status/CODE/PATH    always answers CODE
  /__log               the requests so far, one JSON object a line (method, path, range, if-match, if-range)

It prints `ready PORT` once listening, and exits when its standard input closes (the test process
that started it ended), so no server outlives a test run.
"""
import email.utils
import http.server
import json
import os
import sys
import threading
import urllib.parse

ROOT = sys.argv[1]
LOCK = threading.Lock()
LOG = []
COUNTS = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def plain(self, code, text, body=True):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def serve(self, body):
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        with LOCK:
            if path == "/__log":
                text = "".join(json.dumps(entry) + "\n" for entry in LOG)
            else:
                LOG.append({"method": self.command, "path": path, "range": self.headers.get("Range"),
                            "if-match": self.headers.get("If-Match"), "if-range": self.headers.get("If-Range")})
                COUNTS[path] = COUNTS.get(path, 0) + 1
                count = COUNTS[path]
                text = None
        if text is not None:
            return self.plain(200, text, body)
        parts = path.lstrip("/").split("/")
        cut, changing, ignore_range = None, False, False
        if parts[0] in ("cut", "cut-changing"):
            cut, changing, parts = int(parts[1]), parts[0] == "cut-changing", parts[2:]
        elif parts[0] == "flaky":
            if count <= int(parts[1]):
                return self.plain(500, "flaky: failing on purpose\n", body)
            parts = parts[2:]
        elif parts[0] == "ignore-range":
            ignore_range, parts = True, parts[1:]
        elif parts[0] == "redirect":
            left, rest = int(parts[1]), "/".join(parts[2:])
            self.send_response(302)
            self.send_header("Location", "/" + rest if left == 0 else "/redirect/%d/%s" % (left - 1, rest))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif parts[0] == "status":
            return self.plain(int(parts[1]), "status %s on purpose\n" % parts[1], body)
        file = os.path.join(ROOT, *[p for p in parts if p not in ("", ".", "..")])
        if not os.path.isfile(file):
            return self.plain(404, "no such file\n", body)
        info = os.stat(file)
        etag = '"%x-%x%s"' % (info.st_mtime_ns, info.st_size, "-%d" % count if changing else "")
        modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        size = info.st_size
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match.strip() != "*" and etag not in [t.strip() for t in if_match.split(",")]:
            return self.plain(412, "precondition failed\n", body)
        start, end, status = 0, size - 1, 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not ignore_range and (if_range is None or if_range in (etag, modified)):
            first, _, last = wanted.replace("bytes=", "").partition("-")
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if not body:
            return
        with open(file, "rb") as handle:
            handle.seek(start)
            data = handle.read(length)
        if cut is not None and cut < len(data):
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready %d" % server.server_address[1], flush=True)
    sys.stdin.read()  # returns when the starting process closes the pipe or dies
    os._exit(0)


if __name__ == "__main__":
    main()
