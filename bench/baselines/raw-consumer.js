// Baseline: the same durable protocol as the worker, hand-written with amqplib, nothing else.
// Consume, publish one result with publisher confirms, ack. Exits after MAX tasks.
// Prints "BENCH ready" once the consumer is registered.
const amqp = require('amqplib');

const [url, queue, resultQueue, prefetch, max] = process.argv.slice(2);

async function main() {
  const connection = await amqp.connect(url, { noDelay: true }); // as the worker: no Nagle delay on each request
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(resultQueue, { durable: true });
  await channel.prefetch(Number(prefetch));
  let done = 0;
  await channel.consume(queue, (msg) => {
    const task = JSON.parse(msg.content.toString());
    const result = Buffer.from(
      JSON.stringify({ id: task.id, status: 'succeeded', output: task.input, attempts: 1 }),
    );
    channel.publish('', resultQueue, result, { persistent: true, messageId: task.id }, (err) => {
      if (err) throw err;
      channel.ack(msg);
      done += 1;
      if (done === Number(max)) connection.close().then(() => process.exit(0));
    });
  });
  process.stdout.write('BENCH ready\n');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
