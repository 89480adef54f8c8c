#!/usr/bin/env python3
"""Slow readers (issue 12; figures in docs/performance.md): N clients register
and log in (16 at a time) with a 4 KiB receive buffer and then never read,
while a writer sends M ~8 KB chat messages one at a time; prints the
server's VmRSS/VmHWM (/proc/<pid>/status) after each step.

Usage: slow_readers.py HOST PORT SERVER_PID N M
(server started with --insecure-plaintext --chat-rate 0, and
--register-rate 0 where that flag exists)."""

ADDR, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
N, M = int(sys.argv[4]), int(sys.argv[5])
TEXT = "\U0001F3DF" * 2000

def mem():
    out = {}
    for line in open(f"/proc/{PID}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out

async def conn(rcvbuf=None):
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (ADDR, PORT))
    r, w = await asyncio.open_connection(sock=sock)
    return r, w

async def recv(r):
    n = struct.unpack(">I", await r.readexactly(4))[0]
    return json.loads(await r.readexactly(n))

def send(w, obj):
    b = json.dumps(obj).encode()
    w.write(struct.pack(">I", len(b)) + b)

async def request(r, w, obj):
    send(w, obj)
    await w.drain()
    while True:
        f = await recv(r)
        if f.get("id") == obj["id"]:
            return f

async def user(name, rcvbuf=None):
    r, w = await conn(rcvbuf)
    await recv(r)  # welcome
    a = await request(r, w, {"id": 1, "op": "register", "username": name, "password": "pw-" + name + "-12345", "email": name + "@example.com"})
    assert a["ok"], a
    a = await request(r, w, {"id": 2, "op": "login", "username": name, "password": "pw-" + name + "-12345"})
    assert a["ok"], a
    return r, w

async def main():
    tag = str(int(time.time()) % 100000)
    print("start", mem(), flush=True)
    sem = asyncio.Semaphore(16)
    async def slow(i):
        async with sem:
            return await user(f"s{tag}x{i}", rcvbuf=4096)
    slows = await asyncio.gather(*(slow(i) for i in range(N)))
    print("logged in", mem(), flush=True)
    wr, ww = await user(f"w{tag}")
    pending = {}
    async def reader():
        while True:
            f = await recv(wr)
            if "id" in f and f["id"] in pending:
                pending.pop(f["id"]).set_result(f)
    rt = asyncio.create_task(reader())
    hwm = 0
    t0 = time.time()
    for i in range(M):
        fut = asyncio.get_running_loop().create_future()
        pending[1000 + i] = fut
        send(ww, {"id": 1000 + i, "op": "chat_send", "text": TEXT})
        await ww.drain()
        a = await fut
        assert a["ok"], a
    print(f"sent {M} in {time.time()-t0:.1f}s", mem(), flush=True)
    await asyncio.sleep(3)
    print("3 s later", mem(), flush=True)
    for r, w in slows:
        w.close()
    await asyncio.sleep(5)
    print("slow closed +5 s", mem(), flush=True)
    rt.cancel()

asyncio.run(main())
