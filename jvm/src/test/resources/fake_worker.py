"""A stand-in for `python -m loxodon.worker` in JVM tests: the same hello line,
secret check and message framing, no TensorFlow. Behaviour by argv[1]:
ok (default), old (announces another version), nomodule (dies like a Python
without loxodon). Task kinds: "echo" replies EVENT then RESULT with the spec,
"fail" replies ERROR."""
import json, os, socket, struct, sys, threading

mode = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "ok"
if mode == "nomodule":
    sys.stderr.write("/usr/bin/python3: Error while finding module specification for "
                     "'loxodon.worker' (ModuleNotFoundError: No module named 'loxodon')\n")
    sys.exit(1)
secret = bytes.fromhex(os.environ["LOXODON_WORKER_SECRET"])
server = socket.create_server(("127.0.0.1", 0))
version = "9.9.9" if mode == "old" else "0.1.0"
print("some noise before the hello", flush=True)
print("LOXODON_WORKER " + json.dumps({"port": server.getsockname()[1], "pid": os.getpid(),
      "loxodon": version, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "")}), flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

def read_exact(f, n):
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return data

def send(f, kind, payload):
    f.write(struct.pack(">iB", len(payload) + 1, kind) + payload)
    f.flush()

while True:
    conn, _ = server.accept()
    r, w = conn.makefile("rb"), conn.makefile("wb")
    try:
        if read_exact(r, 32) != secret:
            conn.close()
            continue
        length, kind = struct.unpack(">iB", read_exact(r, 5))
        spec = json.loads(read_exact(r, length - 1))
        for _ in spec.get("attachments", []):
            length, kind = struct.unpack(">iB", read_exact(r, 5))
            read_exact(r, length - 1)
        if spec["kind"] == "fail":
            send(w, 12, json.dumps({"type": "ValueError", "message": "bad input",
                                    "traceback": "Traceback (most recent call last):\n  boom"}).encode())
        else:
            send(w, 10, json.dumps({"epoch": 0}).encode())
            send(w, 11, json.dumps({"pid": os.getpid(), "spec": spec}).encode())
    except EOFError:
        pass
    finally:
        conn.close()
