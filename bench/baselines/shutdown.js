// Baseline for shutdown: holds 1 MB of state; on SIGTERM writes it durably (temp file, fsync,
// rename, fsync directory) and exits. No broker, no runtime.
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
const state = JSON.stringify({ context: 'y'.repeat(1024 * 1024) });
process.on('SIGTERM', () => {
  const file = path.join(dir, 'state.json');
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, state);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
  process.exit(75);
});
process.stdout.write('BENCH working\n');
setInterval(() => undefined, 1 << 30);
