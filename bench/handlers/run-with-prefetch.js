// Starts the worker through its public API (`runAgent`, what the agent-worker bin calls) with the
// prefetch taken from BENCH_PREFETCH; the bin itself always uses the default.
const { runAgent } = require('@agent-fleet/worker');

runAgent({ handler: require(process.env.AGENT_HANDLER), prefetch: Number(process.env.BENCH_PREFETCH ?? 1) });
