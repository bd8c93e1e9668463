// Benchmark handler: holds 1 MB of state and waits for shutdown; on SIGTERM it checkpoints the
// state durably and gives the task back. Prints "working" once the task is running.
const state = { context: 'y'.repeat(1024 * 1024) };
module.exports = async function holdUntilShutdown(_input, ctx) {
  process.stdout.write('BENCH working\n');
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  await ctx.checkpoint(state);
  process.stdout.write('BENCH durable\n');
  throw ctx.signal.reason;
};
