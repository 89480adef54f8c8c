#!/usr/bin/env python3
"""Presence storm (issue 12; figures in docs/performance.md): N clients
register and log in (16 at a time) and read everything; then all but one
log out at once (connections stay open and keep reading) and the presence
pushes that reach all N connections are counted until 3 s pass without one.

Usage: presence_storm.py HOST PORT N
(server started with --insecure-plaintext, and --register-rate 0 where that
flag exists)."""
import asyncio, json, struct, sys, time

ADDR, PORT, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def recv(r):
    n = struct.unpack(">I", await r.readexactly(4))[0]
    return json.loads(await r.readexactly(n))

def send(w, obj):
    b = json.dumps(obj).encode()
    w.write(struct.pack(">I", len(b)) + b)

class Conn:
    def __init__(self, r, w):
        self.r, self.w, self.presence, self.pending = r, w, 0, {}
        self.task = asyncio.create_task(self.read())

    async def read(self):
        global last
        try:
            while True:
                f = await recv(self.r)
                if f.get("push") == "presence":
                    self.presence += 1
                    last = time.time()
                elif "id" in f and f["id"] in self.pending:
                    self.pending.pop(f["id"]).set_result(f)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def request(self, obj):
        fut = asyncio.get_running_loop().create_future()
        self.pending[obj["id"]] = fut
        send(self.w, obj)
        await self.w.drain()
        return await fut

last = time.time()

async def user(name):
    r, w = await asyncio.open_connection(ADDR, PORT)
    await recv(r)  # welcome
    c = Conn(r, w)
    pw = "pw-" + name + "-12345"
    a = await c.request({"id": 1, "op": "register", "username": name, "password": pw, "email": name + "@example.com"})
    assert a["ok"], a
    a = await c.request({"id": 2, "op": "login", "username": name, "password": pw})
    assert a["ok"], a
    return c

async def quiet(seconds, limit=120):
    start = time.time()
    while time.time() - last < seconds and time.time() - start < limit:
        await asyncio.sleep(0.2)

async def main():
    tag = str(int(time.time()) % 100000)
    sem = asyncio.Semaphore(16)
    async def one(i):
        async with sem:
            return await user(f"p{tag}x{i}")
    t0 = time.time()
    conns = await asyncio.gather(*(one(i) for i in range(N)))
    print(f"{N} logged in in {time.time()-t0:.1f}s", flush=True)
    await quiet(3)
    global last
    for c in conns:
        c.presence = 0
    t0 = last = time.time()
    await asyncio.gather(*(c.request({"id": 3, "op": "logout"}) for c in conns[1:]))
    print(f"{N-1} logged out in {time.time()-t0:.2f}s", flush=True)
    await quiet(3)
    total = sum(c.presence for c in conns)
    print(f"presence pushes after {N-1} left at once: {total} in all "
          f"({total / N:.1f} per client); the one who stayed got {conns[0].presence}", flush=True)

asyncio.run(main())
