// A Dapr JavaScript SDK app run against funchost's embedded sidecar (tests/polyglot).
//
// It serves DaprServer callbacks (a subscription, a bulk subscription, an input binding, an
// invoke listener, an actor), drives DaprClient over HTTP and gRPC (state with transactions and
// etags, publish and bulk publish, invoke, secrets, metadata) and runs a workflow with the JS
// workflow runtime (an activity retried after a failure, a timer). It prints one line
// `RESULT <json>`: every check with ok and detail; the pytest side asserts on it.
"use strict";

const {
  DaprServer,
  DaprClient,
  CommunicationProtocolEnum,
  HttpMethod,
  AbstractActor,
  ActorId,
  ActorProxyBuilder,
  WorkflowRuntime,
  DaprWorkflowClient,
  WorkflowRuntimeStatus,
  DaprPubSubStatusEnum,
  Temporal,
  LogLevel,
} = require("@dapr/dapr");
const fs = require("fs");
const path = require("path");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};
const HOST = "127.0.0.1";
const HTTP_PORT = env("DAPR_HTTP_PORT");
const GRPC_PORT = env("DAPR_GRPC_PORT");
const APP_PORT = env("APP_PORT");
const APP_ID = env("APP_ID");
const logger = { level: LogLevel.Warning };

const checks = [];
function check(name, ok, detail) {
  checks.push({ name, ok: Boolean(ok), detail: detail === undefined ? "" : String(detail) });
}
async function attempt(name, fn) {
  try {
    const detail = await fn();
    check(name, true, detail);
  } catch (e) {
    check(name, false, (e && e.stack) || e);
  }
}
function expect(cond, message) {
  if (!cond) throw new Error(message);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond, seconds = 30) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// -- the app side --------------------------------------------------------------------------
const received = { orders: [], bulk: [], ticks: 0, invoked: [], retried: [], dead: [], batch: [], reminders: [] };

class CounterActor extends AbstractActor {
  async increment(by) {
    const current = (await this.getStateManager().tryGetState("count"))[1] || 0;
    const next = current + (by || 1);
    await this.getStateManager().setState("count", next);
    await this.getStateManager().saveState();
    return next;
  }

  async remindMe() {
    await this.registerActorReminder("ping", Temporal.Duration.from({ seconds: 1 }), undefined, undefined, "hello reminder");
  }

  async receiveReminder(data) {
    received.reminders.push(data);
  }
}

// -- the workflow --------------------------------------------------------------------------
let flakyCalls = 0;
const flaky = async (_ctx, input) => {
  flakyCalls += 1;
  if (flakyCalls === 1) throw new Error("first attempt fails on purpose");
  return `done:${input}`;
};
const greet = async (_ctx, name) => `hello ${name}`;

const orderFlow = async function* (ctx, input) {
  const greeting = yield ctx.callActivity(greet, input);
  yield ctx.createTimer(1);
  let result;
  try {
    result = yield ctx.callActivity(flaky, input);
  } catch (e) {
    result = yield ctx.callActivity(flaky, input); // the retry
  }
  return { greeting, result };
};

const approval = async function* (ctx, input) {
  const decision = yield ctx.waitForExternalEvent("approve");
  return { input, decision };
};

async function main() {
  const server = new DaprServer({
    serverHost: HOST,
    serverPort: APP_PORT,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    clientOptions: { daprHost: HOST, daprPort: HTTP_PORT, communicationProtocol: CommunicationProtocolEnum.HTTP },
    logger,
  });
  await server.pubsub.subscribe("pubsub", "orders", async (data) => {
    received.orders.push(data);
  });
  await server.pubsub.subscribe("pubsub", "bulk-orders", async (data) => {
    received.bulk.push(data);
  });
  let retryOnce = true;
  await server.pubsub.subscribe("pubsub", "retried", async (data) => {
    received.retried.push(data);
    if (retryOnce) {
      retryOnce = false;
      return DaprPubSubStatusEnum.RETRY;
    }
    return DaprPubSubStatusEnum.SUCCESS;
  });
  await server.pubsub.subscribeWithOptions("pubsub", "doomed", {
    deadLetterTopic: "doomed-dead",
    callback: async () => DaprPubSubStatusEnum.DROP,
  });
  // as with daprd, dead letters reach the app only through a subscription to that topic
  await server.pubsub.subscribe("pubsub", "doomed-dead", async (data) => {
    received.dead.push(data);
  });
  await server.pubsub.subscribeBulk(
    "pubsub",
    "batched",
    async (data) => {
      received.batch.push(data);
    },
    { maxMessagesCount: 10, maxAwaitDurationMs: 50 },
  );
  await server.binding.receive("tick", async () => {
    received.ticks += 1;
  });
  await server.invoker.listen(
    "echo",
    async (req) => {
      received.invoked.push(req.body);
      return { echoed: JSON.parse(req.body || "null") };
    },
    { method: HttpMethod.POST },
  );
  await server.actor.init();
  await server.actor.registerActor(CounterActor);
  await server.start();

  const http = new DaprClient({ daprHost: HOST, daprPort: HTTP_PORT, communicationProtocol: CommunicationProtocolEnum.HTTP, logger });
  const grpc = new DaprClient({ daprHost: HOST, daprPort: GRPC_PORT, communicationProtocol: CommunicationProtocolEnum.GRPC, logger });
  await grpc.start();

  for (const [proto, c] of [["http", http], ["grpc", grpc]]) {
    await attempt(`state ${proto}: save, get, bulk, delete`, async () => {
      const k = `js-${proto}`;
      const saved = await c.state.save("statestore", [
        { key: `${k}-a`, value: { n: 1 } },
        { key: `${k}-b`, value: "text" },
      ]);
      expect(!saved.error, `save failed: ${saved.error}`);
      const got = await c.state.get("statestore", `${k}-a`);
      expect(JSON.stringify(got) === '{"n":1}', `get returned ${JSON.stringify(got)}`);
      const bulk = await c.state.getBulk("statestore", [`${k}-a`, `${k}-b`, `${k}-none`]);
      expect(bulk.length === 3, `getBulk returned ${JSON.stringify(bulk)}`);
      const b = bulk.find((x) => x.key === `${k}-b`);
      expect(b && b.data === "text" && b.etag, `bulk item b is ${JSON.stringify(b)}`);
      const del = await c.state.delete("statestore", `${k}-b`);
      expect(!del.error, `delete failed: ${del.error}`);
      const gone = await c.state.get("statestore", `${k}-b`);
      expect(gone === "" || gone === undefined || gone === null, `deleted key reads ${JSON.stringify(gone)}`);
      return JSON.stringify(bulk);
    });
    await attempt(`state ${proto}: etags`, async () => {
      const k = `js-etag-${proto}`;
      await c.state.save("statestore", [{ key: k, value: "v1" }]);
      const [item] = await c.state.getBulk("statestore", [k]);
      const stale = item.etag;
      const ok = await c.state.save("statestore", [{ key: k, value: "v2", etag: stale }]);
      expect(!ok.error, `save with the current etag failed: ${ok.error}`);
      let refused = false;
      try {
        const bad = await c.state.save("statestore", [{ key: k, value: "v3", etag: stale }]);
        refused = Boolean(bad.error);
      } catch (e) {
        refused = true;
      }
      expect(refused, "a save with a stale etag was accepted");
      const now = await c.state.get("statestore", k);
      expect(now === "v2", `value after the stale write is ${JSON.stringify(now)}`);
      return `etag ${stale}`;
    });
    await attempt(`state ${proto}: transaction`, async () => {
      const k = `js-tx-${proto}`;
      await c.state.save("statestore", [{ key: `${k}-old`, value: 1 }]);
      await c.state.transaction("statestore", [
        { operation: "upsert", request: { key: `${k}-new`, value: "fresh" } },
        { operation: "delete", request: { key: `${k}-old` } },
      ]);
      const fresh = await c.state.get("statestore", `${k}-new`);
      const old = await c.state.get("statestore", `${k}-old`);
      expect(fresh === "fresh", `upserted value is ${JSON.stringify(fresh)}`);
      expect(old === "" || old === undefined || old === null, `deleted value is ${JSON.stringify(old)}`);
    });
    await attempt(`publish ${proto}`, async () => {
      const before = received.orders.length;
      const res = await c.pubsub.publish("pubsub", "orders", { id: `${proto}-1` });
      expect(!res.error, `publish failed: ${res.error}`);
      await until("the published order", () => received.orders.length > before);
      const got = received.orders[received.orders.length - 1];
      expect(JSON.stringify(got) === JSON.stringify({ id: `${proto}-1` }), `subscriber got ${JSON.stringify(got)}`);
      return JSON.stringify(got);
    });
    await attempt(`bulk publish ${proto}`, async () => {
      const before = received.bulk.length;
      const res = await c.pubsub.publishBulk("pubsub", "bulk-orders", [
        { id: `${proto}-b1` },
        { id: `${proto}-b2` },
        "plain text",
      ]);
      expect(res.failedMessages.length === 0, `failed: ${JSON.stringify(res.failedMessages.map((m) => String(m.error)))}`);
      await until("three bulk-published orders", () => received.bulk.length >= before + 3);
      const got = received.bulk.slice(before).map((x) => JSON.stringify(x)).sort();
      const want = [{ id: `${proto}-b1` }, { id: `${proto}-b2` }, "plain text"].map((x) => JSON.stringify(x)).sort();
      expect(JSON.stringify(got) === JSON.stringify(want), `subscriber got ${JSON.stringify(got)}`);
      return JSON.stringify(got);
    });
    await attempt(`invoke ${proto}`, async () => {
      const res = await c.invoker.invoke(APP_ID, "echo", HttpMethod.POST, { hello: proto });
      expect(JSON.stringify(res) === JSON.stringify({ echoed: { hello: proto } }), `invoke returned ${JSON.stringify(res)}`);
    });
    await attempt(`secrets ${proto}`, async () => {
      const res = await c.secret.get("localsecretstore", "POLYGLOT_SECRET");
      expect(res.POLYGLOT_SECRET === "s3cret", `secret is ${JSON.stringify(res)}`);
    });
    await attempt(`metadata ${proto}`, async () => {
      const md = await c.metadata.get();
      expect(md.id === APP_ID, `metadata id is ${md.id}`);
      const names = (md.components || []).map((x) => x.name);
      for (const want of ["statestore", "pubsub", "tick", "localsecretstore"]) {
        expect(names.includes(want), `metadata components ${JSON.stringify(names)} lack ${want}`);
      }
      if (proto === "http") {
        // the SDK's gRPC metadata wrapper drops subscriptions (it maps id, actors, components)
        const topics = (md.subscriptions || []).map((s) => s.topic);
        expect(topics.includes("orders"), `metadata subscriptions ${JSON.stringify(md.subscriptions)}`);
      }
      const actors = md.actors || [];
      expect(actors.some((a) => a.type === "CounterActor"), `metadata actors ${JSON.stringify(actors)}`);
      return JSON.stringify(md);
    });
  }

  await attempt("errors http: unknown state store rejects", async () => {
    let error;
    try {
      await http.state.get("nostore", "k");
    } catch (e) {
      error = e;
    }
    expect(error, "get on an unknown store resolved");
    const body = JSON.parse(error.message);
    expect(body.status === 400, `status ${body.status}`);
    expect(JSON.parse(body.error_msg).errorCode === "ERR_STATE_STORE_NOT_FOUND", body.error_msg);
    return error.message;
  });
  await attempt("errors http: a malformed CloudEvent is refused at once", async () => {
    const res = await http.pubsub.publish("pubsub", "orders", "{not json", {
      contentType: "application/cloudevents+json",
    });
    expect(res.error, "the malformed CloudEvent was accepted");
    const body = JSON.parse(res.error.message);
    expect(body.status === 500, `status ${body.status}`);
    expect(JSON.parse(body.error_msg).errorCode === "ERR_PUBSUB_CLOUD_EVENTS_SER", body.error_msg);
  });
  await attempt("publish: a CloudEvent passes through", async () => {
    const before = received.orders.length;
    const ce = { specversion: "1.0", id: "ce-1", source: "js", type: "order.created", datacontenttype: "application/json", data: { id: "ce" } };
    const res = await http.pubsub.publish("pubsub", "orders", ce, { contentType: "application/cloudevents+json" });
    expect(!res.error, `publish failed: ${res.error}`);
    await until("the CloudEvent", () => received.orders.length > before);
    const got = received.orders[received.orders.length - 1];
    expect(JSON.stringify(got) === '{"id":"ce"}', `subscriber got ${JSON.stringify(got)}`);
  });
  await attempt("errors http: state query on a key/value store is daprd's 'not supported'", async () => {
    let error;
    try {
      await http.state.query("statestore", { filter: {}, sort: [], page: { limit: 2 } });
    } catch (e) {
      error = e;
    }
    expect(error, "the query resolved");
    const body = JSON.parse(error.message);
    expect(body.status === 500, `status ${body.status}`);
    expect(JSON.parse(body.error_msg).errorCode === "ERR_STATE_STORE_NOT_SUPPORTED", body.error_msg);
  });
  await attempt("errors grpc: illegal key rejects with INVALID_ARGUMENT", async () => {
    let error;
    try {
      await grpc.state.save("statestore", [{ key: "bad||key", value: 1 }]);
    } catch (e) {
      error = e;
    }
    expect(error, "save of an illegal key resolved");
    expect(String(error).includes("can't contain '||'"), String(error));
    return String(error);
  });

  await attempt("actor", async () => {
    const builder = new ActorProxyBuilder(CounterActor, http);
    const actor = builder.build(new ActorId("counter-1"));
    const first = await actor.increment(2);
    const second = await actor.increment(3);
    expect(first === 2 && second === 5, `actor returned ${first}, ${second}`);
    const overGrpc = new ActorProxyBuilder(CounterActor, grpc).build(new ActorId("counter-1"));
    const third = await overGrpc.increment(1);
    expect(third === 6, `actor over gRPC returned ${third}`);
  });

  await attempt("actor reminder", async () => {
    const actor = new ActorProxyBuilder(CounterActor, http).build(new ActorId("reminded-1"));
    await actor.remindMe();
    await until("the reminder", () => received.reminders.length > 0, 20);
    return JSON.stringify(received.reminders);
  });

  await attempt("subscriber RETRY is redelivered", async () => {
    await http.pubsub.publish("pubsub", "retried", { n: 1 });
    await until("the redelivery", () => received.retried.length >= 2, 20);
    expect(JSON.stringify(received.retried[1]) === '{"n":1}', JSON.stringify(received.retried));
  });
  await attempt("subscriber DROP goes to the dead-letter topic", async () => {
    await http.pubsub.publish("pubsub", "doomed", { n: 2 });
    await until("the dead letter", () => received.dead.length >= 1, 20);
    return JSON.stringify(received.dead);
  });
  await attempt("bulk subscribe", async () => {
    const res = await grpc.pubsub.publishBulk("pubsub", "batched", [{ k: 1 }, { k: 2 }, { k: 3 }]);
    expect(res.failedMessages.length === 0, JSON.stringify(res));
    await until("three batched events", () => received.batch.length >= 3, 20);
    return JSON.stringify(received.batch);
  });
  await attempt("output binding (localstorage)", async () => {
    await http.binding.send("files", "create", { hello: "file" }, { fileName: "out.json" });
    const file = path.join(env("FILES_DIR"), "out.json");
    await until("the file", () => fs.existsSync(file), 10);
    const content = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(content.hello === "file", `file content ${JSON.stringify(content)}`);
  });
  await attempt("health", async () => {
    expect(await http.health.isHealthy(), "http client says unhealthy");
    expect(await grpc.health.isHealthy(), "grpc client says unhealthy");
  });
  await attempt("state: delete with etag, first-write", async () => {
    for (const [proto, c] of [["http", http], ["grpc", grpc]]) {
      const k = `js-del-${proto}`;
      await c.state.save("statestore", [{ key: k, value: 1 }]);
      const [item] = await c.state.getBulk("statestore", [k]);
      let refused = false;
      try {
        const r = await c.state.delete("statestore", k, { etag: "999" });
        refused = Boolean(r.error);
      } catch (e) {
        refused = true;
      }
      expect(refused, `${proto}: delete with a wrong etag was accepted`);
      const ok = await c.state.delete("statestore", k, { etag: item.etag });
      expect(!ok.error, `${proto}: delete with the etag failed: ${ok.error}`);
    }
  });

  await attempt("input binding", async () => {
    await until("a cron tick", () => received.ticks > 0, 20);
    return `${received.ticks} ticks`;
  });

  const runtime = new WorkflowRuntime({ daprHost: HOST, daprPort: GRPC_PORT, logger })
    .registerWorkflow(orderFlow)
    .registerWorkflow(approval)
    .registerActivity(greet)
    .registerActivity(flaky);
  await runtime.start();
  const client = new DaprWorkflowClient({ daprHost: HOST, daprPort: GRPC_PORT, logger });
  await attempt("workflow", async () => {
    {
      const id = await client.scheduleNewWorkflow(orderFlow, "ada");
      const state = await client.waitForWorkflowCompletion(id, true, 60);
      expect(state, "no workflow state");
      expect(state.runtimeStatus === WorkflowRuntimeStatus.COMPLETED, `status ${state.runtimeStatus}: ${JSON.stringify(state.workflowFailureDetails)}`);
      const out = JSON.parse(state.serializedOutput);
      expect(out.greeting === "hello ada" && out.result === "done:ada", `output ${state.serializedOutput}`);
      expect(flakyCalls === 2, `flaky activity ran ${flakyCalls} times`);
      return state.serializedOutput;
    }
  });
  await attempt("workflow: external event, state, purge", async () => {
    const id = await client.scheduleNewWorkflow(approval, { order: 7 }, "js-approval-1");
    expect(id === "js-approval-1", `instance id ${id}`);
    const started = await client.waitForWorkflowStart(id, true, 30);
    expect(started && started.name === "approval", `started ${JSON.stringify(started)}`);
    await client.raiseEvent(id, "approve", { by: "ada" });
    const state = await client.waitForWorkflowCompletion(id, true, 30);
    expect(state.runtimeStatus === WorkflowRuntimeStatus.COMPLETED, `status ${state.runtimeStatus}`);
    const out = JSON.parse(state.serializedOutput);
    expect(out.decision.by === "ada" && out.input.order === 7, `output ${state.serializedOutput}`);
    expect(await client.purgeWorkflow(id), "purge returned false");
    const after = await client.getWorkflowState(id, false);
    expect(after === undefined, `state after purge ${JSON.stringify(after)}`);
  });
  await attempt("workflow over the HTTP API (DaprClient.workflow)", async () => {
    const id = await http.workflow.start("approval", { order: 8 }, "js-approval-http");
    expect(id === "js-approval-http", `instance id ${id}`);
    let state;
    const end = Date.now() + 30000;
    while (Date.now() < end) {
      state = await http.workflow.get(id);
      if (state.runtimeStatus === "RUNNING") break;
      await sleep(50);
    }
    expect(state.runtimeStatus === "RUNNING", `status ${JSON.stringify(state)}`);
    expect(state.workflowName === "approval", `name ${JSON.stringify(state)}`);
    await http.workflow.raise(id, "approve", { by: "http" });
    while (Date.now() < end) {
      state = await http.workflow.get(id);
      if (state.runtimeStatus === "COMPLETED") break;
      await sleep(50);
    }
    expect(state.runtimeStatus === "COMPLETED", `status ${JSON.stringify(state)}`);
    const out = JSON.parse(state.properties["dapr.workflow.output"]);
    expect(out.decision.by === "http", `output ${JSON.stringify(state.properties)}`);
    await http.workflow.purge(id);
    return JSON.stringify(state);
  });
  await client.stop();
  await runtime.stop();

  await grpc.stop();
  process.stdout.write(`RESULT ${JSON.stringify({ checks })}\n`);
  await server.stop();
}

const deadline = setTimeout(() => {
  process.stdout.write(`RESULT ${JSON.stringify({ checks, timeout: true })}\n`);
  process.exit(2);
}, Number(process.env.POLYGLOT_TIMEOUT_MS || 150000));

main()
  .then(() => {
    clearTimeout(deadline);
    process.exit(0);
  })
  .catch((e) => {
    check("app", false, (e && e.stack) || e);
    process.stdout.write(`RESULT ${JSON.stringify({ checks })}\n`);
    process.exit(1);
  });
