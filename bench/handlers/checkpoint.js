// Benchmark handler: one durable checkpoint per task (1 KB of state), then returns.
const state = { notes: 'x'.repeat(1024) };
module.exports = async function checkpointOnce(input, ctx) {
  await ctx.checkpoint(state);
  return input;
};
