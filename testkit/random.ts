/**
 * Deterministic randomness for tests and benchmarks: the same seed gives the same run. The PRNG is
 * the one `agent-fleet plan` simulates with (mulberry32), written once in the CLI.
 */
export { mulberry32 as prng } from '../cli/src/plan/random';
