// Baseline for cold start and idle memory: loads amqplib and prom-client, connects, registers a
// consumer, prints "BENCH ready" and waits.
const amqp = require('amqplib');
require('prom-client');

const [url, queue] = process.argv.slice(2);

async function main() {
  const connection = await amqp.connect(url, { noDelay: true }); // as the worker: no Nagle delay on each request
  const channel = await connection.createChannel();
  await channel.consume(queue, (msg) => channel.nack(msg, false, true));
  process.stdout.write('BENCH ready\n');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
// A clean exit on SIGTERM, so a profiled run (node --cpu-prof) writes its profile.
process.on('SIGTERM', () => process.exit(0));
