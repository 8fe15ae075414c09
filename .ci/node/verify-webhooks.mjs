// Verifies webhook deliveries with the standardwebhooks package, an
// implementation independent of the engine's. One delivery per line of
// stdin, as JSON {"id", "timestamp", "signature", "body"}; one answer per
// line of stdout: "ok", or "bad <why>". The secret (whsec_...) is in the
// environment as WEBHOOK_SECRET.
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.WEBHOOK_SECRET);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  try {
    const d = JSON.parse(line);
    wh.verify(d.body, {
      "webhook-id": d.id,
      "webhook-timestamp": d.timestamp,
      "webhook-signature": d.signature,
    });
    process.stdout.write("ok\n");
  } catch (e) {
    process.stdout.write("bad " + String(e.message || e).replace(/\n/g, " ") + "\n");
  }
}
