// Benchmark handler: returns at once, so the measurement is the runtime's own per-task cost.
module.exports = async function noop(input) {
  return input;
};
