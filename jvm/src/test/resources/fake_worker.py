"""A stand-in for `python -m loxodon.worker` in JVM tests: the same hello line,
challenge (TLS first, pinning LOXODON_WORKER_TLS_SHA256, when set) and message framing, no TensorFlow. Behaviour by argv[1]:
ok (default), old (announces another version), nomodule (dies like a Python
without loxodon). Task kinds: "echo" replies EVENT then RESULT with the spec,
"fail" replies ERROR."""
import hashlib, hmac, json, os, socket, ssl, struct, sys, threading

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
    pin = os.environ.get("LOXODON_WORKER_TLS_SHA256")
    if pin:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = context.wrap_socket(conn, server_side=False)
        if hashlib.sha256(conn.getpeercert(binary_form=True)).hexdigest() != pin:
            conn.close()
            continue
    r, w = conn.makefile("rb"), conn.makefile("wb")
    try:
        nonce = os.urandom(32)
        w.write(nonce)
        w.flush()
        if read_exact(r, 32) != hmac.new(secret, nonce, hashlib.sha256).digest():
            continue  # the finally below closes it
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
            send(w, 11, json.dumps({"pid": os.getpid(), "spec": spec, "tls": bool(pin),
                                    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}).encode())
    except EOFError:
        pass
    finally:
        r.close()
        w.close()
        conn.close()
