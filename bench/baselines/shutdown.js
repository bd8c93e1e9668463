// Baseline for shutdown: holds 1 MB of state; on SIGTERM writes it durably (temp file, fsync,
// rename, fsync directory) and exits. No broker, no runtime.
const { writeStateDurably } = require('./durable-state');

const dir = process.argv[2];
process.on('SIGTERM', () => {
  writeStateDurably(dir);
  process.exit(75);
});
process.stdout.write('BENCH working\n');
setInterval(() => undefined, 1 << 30);
