// The official TypeScript MCP SDK (pinned in tools/node-clients), a client we did
// not write, against `--http`: a workflow with a read-write token, the refusals of
// a read-only token, and no token at all. Prints one JSON report on stdout for
// tests/python/test_node_client.py to assert on.
// Usage: node http_workflow.mjs NODE_CLIENTS_DIR URL RW_TOKEN RO_TOKEN
import { pathToFileURL } from "node:url";
import path from "node:path";

const [dir, url, rwToken, roToken] = process.argv.slice(2);
const sdk = (p) => import(pathToFileURL(path.join(dir, "node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

async function connect(token) {
  const client = new Client({ name: "ts-sdk-test", version: "1.0.0" });
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

const report = {};
const rw = await connect(rwToken);
report.protocolVersion = rw.transport.protocolVersion ?? null;
report.tools = (await rw.listTools()).tools.map((t) => t.name).sort();
const sub = await rw.callTool({ name: "subscribe", arguments: { name: "ts-sdk", topics: ["nba.>"] } });
const subId = sub.structuredContent.subscription_id;
await rw.callTool({ name: "publish_event", arguments: { topic: "nba.games.7", event_type: "game.ended", payload: { home: 101, away: 99 } } });
const polled = await rw.callTool({ name: "poll_events", arguments: { subscription_id: subId, wait_ms: 2000 } });
report.polled = polled.structuredContent.events.map((e) => e.event_type);
const acked = await rw.callTool({ name: "ack_events", arguments: { subscription_id: subId, event_ids: polled.structuredContent.events.map((e) => e.event_id) } });
report.acked = acked.structuredContent.acked;
const logged = await rw.callTool({ name: "audit_log", arguments: { user_id: "u-7", action: "export", resource_type: "report", resource_id: "box-score" } });
report.auditSequence = logged.structuredContent.sequence ?? null;
report.chainValid = (await rw.callTool({ name: "verify_chain", arguments: {} })).structuredContent.valid;
await rw.close();

const ro = await connect(roToken);
report.readOnlyTools = (await ro.listTools()).tools.map((t) => t.name).sort();
try {
  await ro.callTool({ name: "erase_subject", arguments: { user_id: "u-7", reason: "test" } });
  report.readOnlyErase = "allowed";
} catch (e) {
  report.readOnlyErase = String(e.message ?? e);
}
await ro.close();

try {
  await connect(null);
  report.noToken = "connected";
} catch (e) {
  report.noToken = { error: e.constructor.name, status: e.code ?? null, message: String(e.message ?? e) };
}
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(0);
