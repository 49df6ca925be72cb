// The real unleash-proxy-client against a shipyard server, driven by tests/e2e/test_flags_frontend.py.
// Usage: node check.mjs URL FRONTEND_TOKEN. Prints one JSON object per line: the answers for a
// first context, for a second one, then (after the test changes a flag) for the second again.
import { EVENTS, InMemoryStorageProvider, UnleashClient } from "unleash-proxy-client";

const [url, clientKey] = process.argv.slice(2);
const NAMES = ["banner", "theme", "pro", "dormant", "missing"];
const client = new UnleashClient({
  url,
  clientKey,
  appName: "web",
  refreshInterval: 1,
  metricsInterval: 60,
  metricsIntervalInitial: 0,
  storageProvider: new InMemoryStorageProvider(),
  context: { userId: "1", properties: { plan: "pro" } },
});
const errors = [];
client.on(EVENTS.ERROR, (e) => errors.push(JSON.stringify(e)));

function answers(step) {
  const enabled = Object.fromEntries(NAMES.map((n) => [n, client.isEnabled(n)]));
  const variant = client.getVariant("theme");
  console.log(JSON.stringify({ step, enabled, variant, errors }));
}

await client.start();
answers("first");
await client.updateContext({ userId: "3", properties: { plan: "free" } });
answers("second");
let updates = 0;
const changed = new Promise((resolve) => {
  client.on(EVENTS.UPDATE, () => {
    updates += 1;
    if (client.isEnabled("dormant")) resolve();
  });
});
console.log(JSON.stringify({ step: "waiting" }));
await changed;
console.log(JSON.stringify({ step: "changed", updates }));
answers("after");
await client.sendMetrics();
client.stop();
console.log(JSON.stringify({ step: "done" }));
process.exit(0); // sockets kept alive by fetch would hold the process open
