// Baseline for shutdown, broker side included: a hand-written amqplib consumer doing the runtime's
// shutdown protocol and nothing else. Holds one task and 1 MB of state; on SIGTERM it cancels the
// consumer, writes the state durably (temp file, fsync, rename, fsync directory), publishes the
// task back with a confirm, acks it, closes the channel and the connection, and exits 75.
const amqp = require('amqplib');
const { writeStateDurably } = require('./durable-state');

const [url, queue, dir] = process.argv.slice(2);

async function main() {
  const connection = await amqp.connect(url, { noDelay: true }); // as the worker: no Nagle delay on each request
  const channel = await connection.createConfirmChannel();
  await channel.prefetch(1);
  let held;
  let consumerTag;
  process.on('SIGTERM', async () => {
    await channel.cancel(consumerTag);
    writeStateDurably(dir);
    process.stdout.write('BENCH durable\n');
    if (held) {
      channel.sendToQueue(queue, held.content, { persistent: true });
      await channel.waitForConfirms();
      channel.ack(held);
    }
    await channel.close();
    await connection.close();
    process.exit(75);
  });
  ({ consumerTag } = await channel.consume(queue, (msg) => {
    held = msg;
    process.stdout.write('BENCH working\n');
  }));
  if (!consumerTag) throw new Error('no consumer tag');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
