#!/usr/bin/python3
"""A client and a worker for zdex, written from proto/PROTOCOL.md and
shared/protocol.md only, the way an outside developer would.

Starts the member binary named by $ZDEXD on ephemeral ports, runs its own worker
(a DEALER speaking the worker protocol, serving the types echo, fail and sleep)
in a thread, and exercises every durable op, the cluster ops and the error
classes over a DEALER and a REQ socket.

Every wait is bounded and a watchdog ends the run after 58 s.  Prints one line
per test and then exactly "N passed, M failed"; exits non-zero if any failed.
Needs Debian's python3-zmq: run it with /usr/bin/python3.
"""

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import zmq

WATCHDOG_S = 58.0
CALL_TIMEOUT_S = 5.0
WORKER_TYPES = ("echo", "fail", "sleep")
WORKER_SLOTS = 8
WORKER_NAME = "py-worker"
HEARTBEAT_S = 1.0  # worker_heartbeat_ms default
PEER_TIMEOUT_S = 3.0  # worker_timeout_ms default
NOBODY_TYPE = "nobody-%d" % os.getpid()  # a type no worker serves: stays pending


def fnv1a32(data):
    """PROTOCOL.md section 8."""
    h = 2166136261
    for b in data:
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def partition_of(key, partition_count):
    return fnv1a32(key.encode("utf-8")) % partition_count


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Failure(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failure(what)


def expect_error(reply, code, req_present=True):
    expect(reply.get("ok") is False, "expected ok:false, got %r" % (reply,))
    error = reply.get("error")
    expect(isinstance(error, dict), "error object missing: %r" % (reply,))
    expect(error.get("code") == code, "expected %s, got %r" % (code, reply))
    expect(isinstance(error.get("message"), str), "error.message not a string: %r" % (reply,))
    if not req_present:
        expect("req" not in reply, "reply to an unparsed frame carries req: %r" % (reply,))
    return error


def expect_ok(reply):
    expect(reply.get("ok") is True, "expected ok:true, got %r" % (reply,))
    return reply


# ---------------------------------------------------------------------------------
# The worker


class Worker(threading.Thread):
    """A worker speaking PROTOCOL.md section 12 on its own DEALER."""

    def __init__(self, context, endpoint):
        super().__init__(daemon=True)
        self.context = context
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.tasks = []  # every worker.task received
        self.violations = []  # protocol violations seen from the member
        self.heartbeats = []  # monotonic times of worker.heartbeat from the member
        self.byes = 0
        self.reconnects = 0

    def snapshot(self):
        with self.lock:
            return list(self.tasks)

    def _violation(self, text):
        with self.lock:
            self.violations.append(text)

    def _connect(self):
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.endpoint)
        return socket

    def _send(self, socket, message):
        socket.send(json.dumps(message).encode("utf-8"))
        self.last_sent = time.monotonic()

    def _ready(self, socket):
        self._send(socket, {"op": "worker.ready", "types": list(WORKER_TYPES),
                            "slots": WORKER_SLOTS, "name": WORKER_NAME})

    def _run_task(self, message, due_list):
        now = time.monotonic()
        ref, attempt = message.get("ref"), message.get("attempt")
        task_type, payload = message.get("type"), message.get("payload")
        reply = {"op": "worker.result", "ref": ref, "attempt": attempt}
        delay = 0.0
        if task_type == "echo":
            reply.update(ok=True, value=payload)
        elif task_type == "fail":
            reply.update(ok=False, error=payload if isinstance(payload, str) else json.dumps(payload))
        elif task_type == "sleep":
            delay = (payload or {}).get("ms", 0) / 1000.0
            reply.update(ok=True, value=(payload or {}).get("value"))
        else:
            self._violation("task of a type never registered: %r" % (message,))
            reply.update(ok=False, error="unknown type")
        due_list.append((now + delay, reply))

    def _handle(self, socket, frames, due_list):
        if len(frames) != 1:
            self._violation("message of %d frames" % len(frames))
            return
        try:
            message = json.loads(frames[0].decode("utf-8"))
        except ValueError:
            self._violation("frame is not JSON: %r" % (frames[0][:200],))
            return
        if not isinstance(message, dict):
            self._violation("frame is not an object: %r" % (message,))
            return
        op = message.get("op")
        if op == "worker.task":
            ref = message.get("ref")
            # ["d", executor, task_id] for a durable task, ["s", handler, run] for a
            # scheduled one (PROTOCOL.md, workers)
            if not (isinstance(ref, list) and len(ref) == 3 and ref[0] in ("d", "s")
                    and isinstance(ref[1], str) and isinstance(ref[2], int)):
                self._violation("bad ref: %r" % (message,))
            attempt = message.get("attempt")
            if not (isinstance(attempt, int) and not isinstance(attempt, bool) and attempt >= 1):
                self._violation("bad attempt: %r" % (message,))
            if not isinstance(message.get("type"), str) or "payload" not in message:
                self._violation("bad type or payload: %r" % (message,))
            with self.lock:
                self.tasks.append(message)
            self._run_task(message, due_list)
        elif op == "worker.heartbeat":
            with self.lock:
                self.heartbeats.append(time.monotonic())
        elif op == "worker.bye":
            with self.lock:
                self.byes += 1
            self._ready(socket)
        else:
            self._violation("unexpected message: %r" % (message,))

    def run(self):
        socket = self._connect()
        self._ready(socket)
        last_heard = time.monotonic()
        due_list = []
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                wait = 0.05
                if due_list:
                    wait = max(0.0, min(wait, min(d for d, _ in due_list) - now))
                events = dict(poller.poll(int(wait * 1000)))
                if socket in events:
                    while True:
                        try:
                            frames = socket.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        last_heard = time.monotonic()
                        self._handle(socket, frames, due_list)
                now = time.monotonic()
                for item in [item for item in due_list if item[0] <= now]:
                    due_list.remove(item)
                    self._send(socket, item[1])
                if now - self.last_sent >= HEARTBEAT_S:
                    self._send(socket, {"op": "worker.heartbeat"})
                if now - last_heard > PEER_TIMEOUT_S:
                    # The member is silent: reconnect on a fresh socket (12.5)
                    with self.lock:
                        self.reconnects += 1
                    poller.unregister(socket)
                    socket.close()
                    socket = self._connect()
                    poller.register(socket, zmq.POLLIN)
                    due_list = []
                    self._ready(socket)
                    last_heard = time.monotonic()
        finally:
            try:
                self._send(socket, {"op": "worker.bye"})
            except zmq.ZMQError:
                pass
            socket.close()


# ---------------------------------------------------------------------------------
# The client


class Client:
    """A DEALER client that pipelines and matches replies by req."""

    def __init__(self, context, endpoint):
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self.stash = {}  # canonical req -> reply
        self.unmatched = []  # replies without req
        self.counter = 0

    def next_req(self):
        self.counter += 1
        return "r%d" % self.counter

    def send(self, request):
        if "req" not in request:
            request = dict(request, req=self.next_req())
        self.socket.send(json.dumps(request).encode("utf-8"))
        return request["req"]

    def send_raw(self, data):
        self.socket.send(data)

    def _pump(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not self.socket.poll(int(remaining * 1000) + 1, zmq.POLLIN):
            return False
        frames = self.socket.recv_multipart()
        expect(len(frames) == 1, "DEALER reply of %d frames" % len(frames))
        try:
            reply = json.loads(frames[0].decode("utf-8"))
        except ValueError:
            raise Failure("reply is not JSON: %r" % (frames[0][:200],))
        expect(isinstance(reply, dict), "reply is not an object: %r" % (reply,))
        expect(isinstance(reply.get("ok"), bool), "reply without boolean ok: %r" % (reply,))
        if "req" in reply:
            self.stash[canonical(reply["req"])] = reply
        else:
            self.unmatched.append(reply)
        return True

    def wait(self, req, timeout=CALL_TIMEOUT_S):
        key = canonical(req)
        deadline = time.monotonic() + timeout
        while key not in self.stash:
            if not self._pump(deadline):
                raise Failure("no reply for req %r within %.1f s" % (req, timeout))
        return self.stash.pop(key)

    def poll_reply(self, req, timeout):
        """The reply for req if it arrives within timeout, else None."""
        try:
            return self.wait(req, timeout)
        except Failure as failure:
            if str(failure).startswith("no reply"):
                return None
            raise

    def wait_unmatched(self, timeout=CALL_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while not self.unmatched:
            if not self._pump(deadline):
                raise Failure("no reply (without req) within %.1f s" % timeout)
        return self.unmatched.pop(0)

    def call(self, request, timeout=CALL_TIMEOUT_S):
        return self.wait(self.send(request), timeout)

    def call_raw(self, data, timeout=CALL_TIMEOUT_S):
        self.send_raw(data)
        return self.wait_unmatched(timeout)

    def close(self):
        self.socket.close()


# ---------------------------------------------------------------------------------
# The member process


class Member:
    def __init__(self, binary):
        self.workdir = tempfile.mkdtemp(prefix="zdex-py-")
        self.stderr = open(os.path.join(self.workdir, "stderr.log"), "w+b")
        self.process = subprocess.Popen(
            [binary, "--client-endpoint", "tcp://127.0.0.1:*",
             "--worker-endpoint", "tcp://127.0.0.1:*",
             "--cluster-endpoint", "tcp://127.0.0.1:*"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
            cwd=self.workdir)
        self.fields = {}

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        buffer = b""
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text.startswith("zdexd ready "):
                    for token in text.split()[2:]:
                        name, _, value = token.partition("=")
                        self.fields[name] = value
                    threading.Thread(target=self._drain, daemon=True).start()
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure("no ready line within %.0f s" % timeout)
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    try:
                        status = self.process.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        status = None
                    raise Failure("zdexd closed stdout before its ready line (status %r): %s"
                                  % (status, self.stderr_tail()))
                buffer += chunk

    def _drain(self):
        fd = self.process.stdout.fileno()
        try:
            while os.read(fd, 65536):
                pass
        except OSError:
            pass

    def stderr_tail(self, size=2000):
        try:
            self.stderr.flush()
            self.stderr.seek(0)
            return self.stderr.read().decode("utf-8", "replace")[-size:]
        except (OSError, ValueError):
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# ---------------------------------------------------------------------------------
# Tests.  Each takes the shared environment and raises Failure on a broken rule.


class Env:
    member = None
    client = None
    worker = None
    context = None
    partition_count = 271  # the documented default, until cluster.members says otherwise
    default_completed = 0  # tasks of "default" we saw finish (succeeded or failed)


def submit(env, task, timeout=CALL_TIMEOUT_S, **fields):
    reply = expect_ok(env.client.call(dict({"op": "durable.submit", "task": task}, **fields),
                                      timeout))
    task_id = reply.get("task_id")
    expect(isinstance(task_id, int) and not isinstance(task_id, bool) and task_id >= 0,
           "submit reply without a task_id: %r" % (reply,))
    return task_id


def retrieve(env, task_id, timeout_ms=None, op="durable.retrieve", wait_s=10.0, **fields):
    request = dict({"op": op, "task_id": task_id}, **fields)
    if timeout_ms is not None:
        request["timeout_ms"] = timeout_ms
    return env.client.call(request, wait_s)


def wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_ready_line(env):
    fields = env.member.fields
    for name in ("member", "client", "worker", "cluster"):
        expect(fields.get(name), "ready line lacks %s=: %r" % (name, fields))
    for name in ("client", "worker", "cluster"):
        expect(fields[name].startswith("tcp://127.0.0.1:") and "*" not in fields[name],
               "ready line shows no bound port for %s: %r" % (name, fields[name]))


def test_cluster_ping(env):
    reply = expect_ok(env.client.call({"op": "cluster.ping", "req": {"ping": [1, 2]}}))
    expect(reply.get("req") == {"ping": [1, 2]}, "req not echoed: %r" % (reply,))
    expect(reply.get("member_id") == env.member.fields["member"],
           "member_id %r is not the ready line's" % (reply.get("member_id"),))
    expect(reply.get("version") == "0.1.0", "version: %r" % (reply.get("version"),))


def test_cluster_members(env):
    reply = expect_ok(env.client.call({"op": "cluster.members"}))
    members = reply.get("members")
    expect(isinstance(members, list) and members, "members: %r" % (reply,))
    mine = [m for m in members if m.get("id") == env.member.fields["member"]]
    expect(len(mine) == 1, "this member not listed once: %r" % (members,))
    expect(mine[0].get("client_endpoint") == env.member.fields["client"],
           "client_endpoint %r" % (mine[0],))
    expect(mine[0].get("worker_endpoint") == env.member.fields["worker"],
           "worker_endpoint %r" % (mine[0],))
    expect(isinstance(mine[0].get("master"), bool), "master not a bool: %r" % (mine[0],))
    expect(sum(1 for m in members if m.get("master") is True) == 1, "not one master")
    count = reply.get("partition_count")
    expect(isinstance(count, int) and count > 0, "partition_count: %r" % (reply,))
    expect(isinstance(reply.get("table_version"), int), "table_version: %r" % (reply,))
    env.partition_count = count


def test_cluster_workers(env):
    found = []
    others = []

    def registered():
        reply = expect_ok(env.client.call({"op": "cluster.workers"}))
        workers = reply.get("workers")
        expect(isinstance(workers, list), "workers: %r" % (reply,))
        found[:] = [w for w in workers if w.get("name") == WORKER_NAME]
        others[:] = [w for w in workers if w.get("name") != WORKER_NAME]
        return bool(found)

    expect(wait_for(registered, 5.0), "our worker never appeared in cluster.workers")
    # Workers left over from another run can reconnect to a reused ephemeral port and
    # would take this run's tasks: say so plainly rather than fail obscurely later.
    expect(not others, "foreign workers are connected to this member (leftover processes "
           "of another run on a reused port?): %r" % ([w.get("name") for w in others],))
    expect(len(found) == 1, "our worker is listed %d times" % len(found))
    worker = found[0]
    expect(isinstance(worker.get("id"), str), "worker id: %r" % (worker,))
    expect(sorted(worker.get("types") or []) == sorted(WORKER_TYPES), "types: %r" % (worker,))
    expect(worker.get("slots") == WORKER_SLOTS, "slots: %r" % (worker,))
    expect(isinstance(worker.get("running"), int), "running: %r" % (worker,))


def test_submit_retrieve(env):
    payload = {"x": [1, "two", None, True], "text": "caf\u00e9 \"quoted\"\n"}
    task_id = submit(env, {"type": "echo", "payload": payload}, key="user-42")
    expect(task_id >> 32 == partition_of("user-42", env.partition_count),
           "task %d is not in the partition of its key" % task_id)
    reply = expect_ok(retrieve(env, task_id))
    expect(reply.get("result") == payload, "result %r" % (reply,))
    env.default_completed += 1
    seen = [t for t in env.worker.snapshot() if t.get("ref") == ["d", "default", task_id]]
    expect(len(seen) == 1, "worker saw the task %d times" % len(seen))
    expect(seen[0].get("attempt") == 1 and seen[0].get("type") == "echo"
           and seen[0].get("payload") == payload, "worker.task: %r" % (seen[0],))
    # Retrieving again gives the same result: the slot keeps it
    reply = expect_ok(retrieve(env, task_id, timeout_ms=0))
    expect(reply.get("result") == payload and not reply.get("disposed"), "%r" % (reply,))


def test_submit_without_payload(env):
    task_id = submit(env, {"type": "echo"}, executor="default")
    reply = expect_ok(retrieve(env, task_id, timeout_ms=10000))
    expect("result" in reply and reply["result"] is None, "payload default is not null: %r"
           % (reply,))
    env.default_completed += 1


def test_execute(env):
    marker = "exec-%d" % os.getpid()
    reply = expect_ok(env.client.call({"op": "durable.execute",
                                       "task": {"type": "echo", "payload": {"marker": marker}}}))
    expect("task_id" not in reply, "execute reply carries a task_id: %r" % (reply,))
    expect(wait_for(lambda: any(t.get("payload") == {"marker": marker}
                                for t in env.worker.snapshot()), 5.0),
           "executed task never reached the worker")
    env.default_completed += 1


def test_retrieve_and_dispose(env):
    task_id = submit(env, {"type": "echo", "payload": "rad"})
    reply = expect_ok(retrieve(env, task_id, op="durable.retrieve_and_dispose"))
    expect(reply.get("result") == "rad", "result %r" % (reply,))
    env.default_completed += 1
    reply = expect_ok(retrieve(env, task_id, timeout_ms=0))
    expect(reply.get("disposed") is True and reply.get("result") is None,
           "after retrieve_and_dispose: %r" % (reply,))


def test_submit_and_retrieve(env):
    """durable.submit_and_retrieve (zdex extension): one request, id and result."""
    reply = expect_ok(env.client.call({"op": "durable.submit_and_retrieve",
                                       "task": {"type": "echo", "payload": {"sar": 1}}}))
    task_id = reply.get("task_id")
    expect(isinstance(task_id, int) and not isinstance(task_id, bool),
           "no task_id: %r" % (reply,))
    expect(reply.get("result") == {"sar": 1}, "result %r" % (reply,))
    env.default_completed += 1
    again = expect_ok(retrieve(env, task_id, timeout_ms=0))
    expect(again.get("result") == {"sar": 1}, "the slot lost the result: %r" % (again,))
    reply = env.client.call({"op": "durable.submit_and_retrieve",
                             "task": {"type": "fail", "payload": "sar-kaboom"}})
    error = expect_error(reply, "TASK_FAILED")
    expect(error.get("cause") == "sar-kaboom", "cause %r" % (error,))
    expect(isinstance(reply.get("task_id"), int), "TASK_FAILED without task_id: %r" % (reply,))
    env.default_completed += 1
    reply = env.client.call({"op": "durable.submit_and_retrieve", "timeout_ms": 0,
                             "task": {"type": NOBODY_TYPE, "payload": None}})
    expect_error(reply, "TIMEOUT")
    expect(isinstance(reply.get("task_id"), int), "TIMEOUT without task_id: %r" % (reply,))
    expect_ok(env.client.call({"op": "durable.dispose", "task_id": reply["task_id"]}))
    expect_error(env.client.call({"op": "durable.submit_and_retrieve",
                                  "task": {"type": "echo"}, "task_id": 1}), "BAD_REQUEST")


def test_dispose(env):
    task_id = submit(env, {"type": "echo", "payload": 7})
    expect(expect_ok(retrieve(env, task_id)).get("result") == 7, "result")
    env.default_completed += 1
    reply = expect_ok(env.client.call({"op": "durable.dispose", "task_id": task_id}))
    reply = expect_ok(retrieve(env, task_id))
    expect(reply.get("disposed") is True and "result" in reply and reply["result"] is None,
           "retrieve after dispose: %r" % (reply,))
    # Disposing a disposed id succeeds
    expect_ok(env.client.call({"op": "durable.dispose", "task_id": task_id}))


def test_timeout(env):
    task_id = submit(env, {"type": "sleep", "payload": {"ms": 1500, "value": "slept"}})
    start = time.monotonic()
    expect_error(retrieve(env, task_id, timeout_ms=0), "TIMEOUT")
    expect(time.monotonic() - start < 1.0, "timeout_ms 0 did not answer at once")
    start = time.monotonic()
    expect_error(retrieve(env, task_id, timeout_ms=300), "TIMEOUT")
    elapsed = time.monotonic() - start
    expect(0.25 <= elapsed < 1.4, "timeout_ms 300 answered after %.3f s" % elapsed)
    reply = expect_ok(retrieve(env, task_id, wait_s=10.0))
    expect(reply.get("result") == "slept", "result %r" % (reply,))
    env.default_completed += 1


def test_pending_dispose(env):
    task_id = submit(env, {"type": NOBODY_TYPE, "payload": None})
    expect_error(retrieve(env, task_id, timeout_ms=0), "TIMEOUT")
    parked = env.client.send({"op": "durable.retrieve", "task_id": task_id, "req": "parked"})
    expect(env.client.poll_reply(parked, 0.3) is None, "retrieve of a pending task answered")
    expect_ok(env.client.call({"op": "durable.dispose", "task_id": task_id, "req": "disp"}))
    reply = expect_ok(env.client.wait(parked))
    expect(reply.get("disposed") is True and reply.get("result", "absent") is None,
           "parked retrieve woken with %r" % (reply,))
    reply = expect_ok(retrieve(env, task_id, timeout_ms=0))
    expect(reply.get("disposed") is True, "retrieve after dispose: %r" % (reply,))


def test_failing_task(env):
    task_id = submit(env, {"type": "fail", "payload": "kaboom"})
    error = expect_error(retrieve(env, task_id), "TASK_FAILED")
    expect(error.get("cause") == "kaboom", "cause %r" % (error,))
    env.default_completed += 1
    error = expect_error(retrieve(env, task_id, op="durable.retrieve_and_dispose"), "TASK_FAILED")
    expect(error.get("cause") == "kaboom", "cause %r" % (error,))
    reply = expect_ok(retrieve(env, task_id, timeout_ms=0))
    expect(reply.get("disposed") is True, "after retrieve_and_dispose: %r" % (reply,))


def test_idempotent_submit(env):
    key = "idem-%d" % os.getpid()
    first = {"marker": key + "-first"}
    second = {"marker": key + "-second"}
    id1 = submit(env, {"type": "echo", "payload": first}, idempotency_key=key)
    expect(id1 >> 32 == partition_of(key, env.partition_count),
           "task not in the partition of its idempotency_key")
    id2 = submit(env, {"type": "echo", "payload": second}, idempotency_key=key)
    expect(id1 == id2, "retry got a new id: %d then %d" % (id1, id2))
    expect(expect_ok(retrieve(env, id1)).get("result") == first, "result of the retried task")
    env.default_completed += 1
    id3 = submit(env, {"type": "echo", "payload": first}, idempotency_key=key)
    expect(id3 == id1, "retry after completion got a new id")
    time.sleep(0.2)
    tasks = env.worker.snapshot()
    expect(sum(1 for t in tasks if t.get("payload") == first) == 1, "task ran more than once")
    expect(not any(t.get("payload") == second for t in tasks), "the retry's task ran")


def test_stale_task_id(env):
    count = env.partition_count
    expect_error(retrieve(env, count << 32, timeout_ms=0), "STALE_TASK_ID")
    expect_error(retrieve(env, (count + 5) << 32), "STALE_TASK_ID")
    expect_error(retrieve(env, (1 << 32) - 1, timeout_ms=0), "STALE_TASK_ID")
    expect_error(env.client.call({"op": "durable.dispose", "task_id": count << 32}),
                 "STALE_TASK_ID")


def nested_submit(depth_arrays, req):
    payload = "[" * depth_arrays + "0" + "]" * depth_arrays
    return ('{"req":%s,"op":"durable.submit","task":{"type":"echo","payload":%s}}'
            % (json.dumps(req), payload)).encode()


def test_bad_requests(env):
    c = env.client
    expect_error(c.call_raw(b"not json"), "BAD_REQUEST", req_present=False)
    expect_error(c.call_raw(b'[{"op":"cluster.ping","req":1}]'), "BAD_REQUEST", req_present=False)
    expect_error(c.call_raw(b'{"op":"cluster.ping","req":"d","op":"cluster.ping"}'),
                 "BAD_REQUEST", req_present=False)
    expect_error(c.call_raw(b'{"op":"cluster.ping","req":"x",'), "BAD_REQUEST", req_present=False)
    cases = [
        ({"op": "durable.submit", "task": {"type": "echo"}, "bogus": 1}, "bogus"),
        ({"op": "cluster.ping", "executor": "default"}, "executor"),
        ({"op": "durable.retrieve", "task_id": -1}, "task_id"),
        ({"op": "durable.retrieve", "task_id": 1.0}, "task_id"),
        ({"op": "durable.retrieve", "task_id": "1"}, "task_id"),
        ({"op": "durable.retrieve", "task_id": 1, "timeout_ms": -1}, "timeout_ms"),
        ({"op": "durable.dispose"}, "task_id"),
        ({"op": "durable.status", "executor": ""}, "executor"),
        ({"op": "durable.submit", "task": {"type": "echo"}, "key": ""}, "key"),
        ({"op": "durable.submit", "task": {"type": ""}}, "type"),
        ({"op": "durable.submit", "task": {"payload": 1}}, "type"),
        ({"op": "durable.submit", "task": {"type": "echo", "extra": 1}}, "extra"),
        ({"op": "durable.submit", "task": "echo"}, "task"),
        ({"op": "durable.submit"}, "task"),
        ({"op": "durable.submit", "task": {"type": "x" * 1025}}, "type"),
        ({"op": 5}, "op"),
        ({}, "op"),
    ]
    for index, (request, field) in enumerate(cases):
        req = {"case": index}
        error = expect_error(c.call(dict(request, req=req)), "BAD_REQUEST")
        expect(field in error["message"], "message %r does not name %r" % (error["message"], field))
    # Depth: 64 is accepted, 65 is not (PROTOCOL.md 6.2)
    c.send_raw(nested_submit(61, "deep-64"))
    reply = expect_ok(c.wait("deep-64"))
    expected = 0
    for _ in range(61):
        expected = [expected]
    expect(expect_ok(retrieve(env, reply["task_id"])).get("result") == expected, "deep result")
    env.default_completed += 1
    c.send_raw(nested_submit(62, "deep-65"))
    expect_error(c.wait("deep-65"), "BAD_REQUEST")
    # A frame far deeper than any parser limit is still answered
    expect_error(c.call_raw(b'{"op":"cluster.ping","x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
                 "BAD_REQUEST")


def test_unknown_op(env):
    reply = env.client.call({"op": "durable.nope", "req": {"id": [1, "x"]}})
    expect_error(reply, "UNKNOWN_OP")
    expect(reply.get("req") == {"id": [1, "x"]}, "req not echoed: %r" % (reply,))
    expect_error(env.client.call({"op": "worker.ready"}), "UNKNOWN_OP")
    expect_error(env.client.call({"op": "scheduled.nope", "scheduler": "s"}), "UNKNOWN_OP")


def test_scheduled(env):
    c = env.client
    name = "py-%d" % os.getpid()
    reply = expect_ok(c.call({"op": "scheduled.schedule", "scheduler": "py", "name": name,
                              "task": {"type": "echo", "payload": {"n": 25}}, "delay_ms": 100}))
    handler = reply.get("handler")
    expect(handler == "urn:zdex:scheduled:partition=%d:py:%s"
           % (partition_of(name, env.partition_count), name), "handler %r" % (handler,))
    expect_error(c.call({"op": "scheduled.schedule", "scheduler": "py", "name": name,
                         "task": {"type": "echo"}, "delay_ms": 0}), "DUPLICATE_TASK")
    got = expect_ok(c.call({"op": "scheduled.get", "handler": handler, "timeout_ms": 5000}))
    expect(got.get("result") == {"n": 25}, "scheduled result %r" % (got,))
    status = expect_ok(c.call({"op": "scheduled.status", "handler": handler}))
    expect(status.get("done") is True and status["stats"]["total_runs"] == 1,
           "status %r" % (status,))
    listed = expect_ok(c.call({"op": "scheduled.get_all", "scheduler": "py"}))
    expect(any(handler in urns for urns in listed["members"].values()), "get_all %r" % (listed,))
    expect_ok(c.call({"op": "scheduled.dispose", "handler": handler}))
    expect_error(c.call({"op": "scheduled.get", "handler": handler}), "STALE_TASK")
    expect_error(c.call({"op": "scheduled.get", "handler": "urn:nope"}), "BAD_REQUEST")
    # A periodic task on a key, cancelled; then the scheduler's stats and shutdown.
    reply = expect_ok(c.call({"op": "scheduled.schedule", "scheduler": "py-periodic",
                              "key": "k", "task": {"type": "echo"}, "delay_ms": 0,
                              "period_ms": 100}))
    periodic = reply["handler"]
    expect(periodic.startswith("urn:zdex:scheduled:partition=%d:py-periodic:"
                               % partition_of("k", env.partition_count)), "key placement")
    deadline = time.time() + 5
    while expect_ok(c.call({"op": "scheduled.status", "handler": periodic}))["stats"][
            "total_runs"] < 2:
        expect(time.time() < deadline, "periodic task did not run twice")
        time.sleep(0.05)
    expect(expect_ok(c.call({"op": "scheduled.cancel", "handler": periodic}))["cancelled"] is True,
           "cancel")
    expect_error(c.call({"op": "scheduled.get", "handler": periodic}), "CANCELLED")
    stats = expect_ok(c.call({"op": "scheduled.stats", "scheduler": "py-periodic"}))
    mine = list(stats["members"].values())[0]
    expect(mine["completed"] >= 2, "scheduled stats %r" % (stats,))
    expect_ok(c.call({"op": "scheduled.shutdown", "scheduler": "py-periodic"}))
    expect_error(c.call({"op": "scheduled.schedule", "scheduler": "py-periodic",
                         "task": {"type": "echo"}, "delay_ms": 0}), "REJECTED")


def test_too_large(env):
    c = env.client
    big = "p" * (600 * 1024)  # above max_payload_bytes (512 KiB), under max_frame_bytes
    reply = c.call({"op": "durable.submit", "req": "big-payload",
                    "task": {"type": "echo", "payload": big}})
    expect_error(reply, "TOO_LARGE")
    expect(reply.get("req") == "big-payload", "req not echoed: %r" % (reply.get("req"),))
    head = b'{"op":"cluster.ping","req":"'
    tail = b'"}'
    frame = head + b"f" * (1024 * 1024 + 1 - len(head) - len(tail)) + tail
    expect(len(frame) == 1024 * 1024 + 1, "frame size")
    expect_error(c.call_raw(frame), "TOO_LARGE", req_present=False)
    expect_ok(c.call({"op": "cluster.ping"}))  # the connection survived


def test_shutdown(env):
    name = "py-shutdown-%d" % os.getpid()
    reply = expect_ok(env.client.call({"op": "durable.status", "executor": name}))
    expect(reply.get("shutdown") is False and reply.get("terminated") is False,
           "status before shutdown: %r" % (reply,))
    task_id = submit(env, {"type": "echo", "payload": "before"}, executor=name)
    expect(expect_ok(retrieve(env, task_id, executor=name)).get("result") == "before", "result")
    expect_ok(env.client.call({"op": "durable.shutdown", "executor": name}))
    reply = expect_ok(env.client.call({"op": "durable.status", "executor": name}))
    expect(reply.get("shutdown") is True, "status after shutdown: %r" % (reply,))
    expect(wait_for(lambda: expect_ok(env.client.call(
        {"op": "durable.status", "executor": name})).get("terminated") is True, 3.0),
        "never terminated")
    expect_error(env.client.call({"op": "durable.submit", "executor": name,
                                  "task": {"type": "echo"}}), "REJECTED")
    expect_error(env.client.call({"op": "durable.execute", "executor": name,
                                  "task": {"type": "echo"}}), "REJECTED")
    reply = expect_ok(retrieve(env, task_id, executor=name, timeout_ms=0))
    expect(reply.get("result") == "before", "result after shutdown: %r" % (reply,))
    # Other executors are unaffected
    expect_ok(env.client.call({"op": "durable.status"}))


def test_shutdown_now(env):
    name = "py-shutdown-now-%d" % os.getpid()
    ids = [submit(env, {"type": NOBODY_TYPE, "payload": n}, executor=name) for n in range(2)]
    reply = expect_ok(env.client.call({"op": "durable.shutdown_now", "executor": name}))
    not_started = reply.get("not_started")
    expect(isinstance(not_started, list) and sorted(not_started) == sorted(ids),
           "not_started %r, submitted %r" % (not_started, ids))
    for task_id in ids:
        reply = expect_ok(retrieve(env, task_id, executor=name, timeout_ms=0))
        expect(reply.get("disposed") is True, "not-started task: %r" % (reply,))
    reply = expect_ok(env.client.call({"op": "durable.status", "executor": name}))
    expect(reply.get("shutdown") is True and reply.get("terminated") is True,
           "status after shutdown_now: %r" % (reply,))
    expect_error(env.client.call({"op": "durable.submit", "executor": name,
                                  "task": {"type": "echo"}}), "REJECTED")


def test_stats(env):
    reply = expect_ok(env.client.call({"op": "durable.stats"}))
    members = reply.get("members")
    expect(isinstance(members, dict), "members: %r" % (reply,))
    stats = members.get(env.member.fields["member"])
    expect(isinstance(stats, dict), "no stats for this member: %r" % (members,))
    for field in ("pending", "started", "completed", "cancelled", "total_start_latency_ms",
                  "total_execution_time_ms", "creation_time_ms"):
        value = stats.get(field)
        expect(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
               "stats.%s = %r" % (field, value))
    expect(stats["completed"] >= env.default_completed,
           "completed %d < %d tasks seen done" % (stats["completed"], env.default_completed))
    expect(stats["started"] >= stats["completed"], "started < completed: %r" % (stats,))
    expect(stats["cancelled"] >= 1, "the disposed pending task is not counted: %r" % (stats,))
    now_ms = int(time.time() * 1000)
    expect(now_ms - 3600 * 1000 <= stats["creation_time_ms"] <= now_ms + 60 * 1000,
           "creation_time_ms %r is not epoch ms of today" % (stats["creation_time_ms"],))


def test_req_socket(env):
    socket = env.context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    try:
        socket.connect(env.member.fields["client"])
        for data, check in (
                (b'{"op":"cluster.ping","req":"via-req"}', "ok"),
                (b"{oops", "bad")):
            socket.send(data)
            expect(socket.poll(int(CALL_TIMEOUT_S * 1000), zmq.POLLIN), "REQ got no reply")
            frames = socket.recv_multipart()
            expect(len(frames) == 1, "REQ reply of %d frames" % len(frames))
            reply = json.loads(frames[0].decode("utf-8"))
            if check == "ok":
                expect_ok(reply)
                expect(reply.get("req") == "via-req", "req %r" % (reply,))
                expect(reply.get("member_id") == env.member.fields["member"], "member_id")
            else:
                expect_error(reply, "BAD_REQUEST", req_present=False)
    finally:
        socket.close()


def test_pipelining(env):
    c = env.client
    submits = [(c.send({"op": "durable.submit", "req": ["submit", n],
                        "task": {"type": "echo", "payload": {"n": n}}}), n) for n in range(20)]
    ids = {}
    for req, n in reversed(submits):  # collect in another order than sent
        ids[n] = expect_ok(c.wait(req)).get("task_id")
    expect(len(set(ids.values())) == 20, "task ids are not distinct: %r" % (ids,))
    gets = [(c.send({"op": "durable.retrieve", "req": ["get", n], "task_id": ids[n],
                     "timeout_ms": 10000}), n) for n in range(20)]
    for req, n in gets:
        reply = expect_ok(c.wait(req, 12.0))
        expect(reply.get("result") == {"n": n}, "pipelined result %r for %d" % (reply, n))
        env.default_completed += 1


def test_worker_protocol(env):
    # Stay idle for longer than the heartbeat interval: the member must heartbeat
    start = time.monotonic()
    time.sleep(2.0 * HEARTBEAT_S + 0.3)
    with env.worker.lock:
        violations = list(env.worker.violations)
        recent = [t for t in env.worker.heartbeats if t >= start]
        byes, reconnects = env.worker.byes, env.worker.reconnects
    expect(not violations, "worker protocol violations: %r" % (violations[:3],))
    expect(recent, "the member sent no worker.heartbeat while idle for %.1f s"
           % (2.0 * HEARTBEAT_S + 0.3))
    expect(byes == 0, "the member sent worker.bye %d times to a live worker" % byes)
    expect(reconnects == 0, "the member went silent; the worker reconnected %d times"
           % reconnects)
    for task in env.worker.snapshot():
        expect(task.get("attempt") == 1, "a task was re-dispatched: %r" % (task,))
        expect(task.get("type") != NOBODY_TYPE, "a task of an unregistered type was dispatched")


TESTS = [
    test_ready_line,
    test_cluster_ping,
    test_cluster_members,
    test_cluster_workers,
    test_submit_retrieve,
    test_submit_without_payload,
    test_execute,
    test_retrieve_and_dispose,
    test_submit_and_retrieve,
    test_dispose,
    test_timeout,
    test_pending_dispose,
    test_failing_task,
    test_idempotent_submit,
    test_stale_task_id,
    test_bad_requests,
    test_unknown_op,
    test_scheduled,
    test_too_large,
    test_shutdown,
    test_shutdown_now,
    test_stats,
    test_req_socket,
    test_pipelining,
    test_worker_protocol,
]


def find_binary():
    binary = os.environ.get("ZDEXD")
    if binary:
        return binary
    here = os.path.dirname(os.path.abspath(__file__))
    candidate = os.path.normpath(os.path.join(here, "..", "..", "build", "zdexd"))
    return candidate if os.path.exists(candidate) else None


def main():
    counts = {"passed": 0, "failed": 0}
    env = Env()
    finished = threading.Event()

    def report_and_exit(extra_failure):
        if extra_failure:
            counts["failed"] += 1
        print("%d passed, %d failed" % (counts["passed"], counts["failed"]), flush=True)

    def watchdog():
        if finished.wait(WATCHDOG_S):
            return
        print("FAIL watchdog: the run exceeded %.0f s" % WATCHDOG_S, flush=True)
        if env.member is not None:
            try:
                env.member.process.kill()
            except OSError:
                pass
        report_and_exit(True)
        os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()

    binary = find_binary()
    if not binary or not os.access(binary, os.X_OK):
        print("FAIL setup: set ZDEXD to the zdexd binary (got %r)" % (binary,), flush=True)
        report_and_exit(True)
        return 1

    env.context = zmq.Context()
    try:
        try:
            env.member = Member(binary)
            env.member.wait_ready()
        except (Failure, OSError) as failure:
            print("FAIL setup: %s" % failure, flush=True)
            counts["failed"] += 1
            return 1
        env.worker = Worker(env.context, env.member.fields["worker"])
        env.worker.start()
        env.client = Client(env.context, env.member.fields["client"])
        for test in TESTS:
            name = test.__name__
            start = time.monotonic()
            try:
                test(env)
                counts["passed"] += 1
                print("ok   %s (%.2f s)" % (name, time.monotonic() - start), flush=True)
            except Failure as failure:
                counts["failed"] += 1
                print("FAIL %s: %s" % (name, failure), flush=True)
            except Exception:  # a bug in a test, or an unexpected reply shape
                counts["failed"] += 1
                print("FAIL %s: %s" % (name, traceback.format_exc().strip()), flush=True)
            if env.member.process.poll() is not None:
                print("FAIL zdexd exited with status %r: %s"
                      % (env.member.process.returncode, env.member.stderr_tail()), flush=True)
                counts["failed"] += 1
                break
    finally:
        if env.worker is not None:
            env.worker.stop.set()
            env.worker.join(5)
        if env.client is not None:
            env.client.close()
        if env.member is not None:
            env.member.stop()
        if env.worker is None or not env.worker.is_alive():
            env.context.term()
        finished.set()
        report_and_exit(False)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
