// Shared by the shutdown baselines: 1 MB of state, written durably the textbook way (temp file,
// fsync, rename, fsync of the directory), synchronously.
const fs = require('node:fs');
const path = require('node:path');

const STATE = JSON.stringify({ context: 'y'.repeat(1024 * 1024) });

function writeStateDurably(dir) {
  const file = path.join(dir, 'state.json');
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, STATE);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
}

module.exports = { writeStateDurably };
