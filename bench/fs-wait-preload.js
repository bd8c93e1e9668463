// Loaded with `--require` (NODE_OPTIONS) into a profiled process: records when at least one
// asynchronous file operation (`fs.promises`, and the methods of the FileHandles it returns) was in
// flight, as intervals of CLOCK_MONOTONIC in µs, the clock of V8's CPU profiles, and writes them
// as JSON to the file named by BENCH_FS_OUT when the process exits. bench/profile.ts then splits
// the profile's idle time into waiting with a file operation in flight and waiting for anything
// else (the broker). The checkpoint store is the only user of `fs.promises` in a running worker.
// Also written: how many CommonJS modules the process had loaded by then.
const fs = require('node:fs');

const out = process.env.BENCH_FS_OUT;
if (out) {
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const intervals = [];
  let inFlight = 0;
  let since = 0;
  const begin = () => {
    if (inFlight++ === 0) since = nowUs();
  };
  const end = () => {
    if (--inFlight === 0) intervals.push(since, nowUs());
  };
  const timed = (fn) =>
    function (...args) {
      begin();
      let result;
      try {
        result = fn.apply(this, args);
      } catch (error) {
        end();
        throw error;
      }
      return Promise.resolve(result).finally(end);
    };
  const patchedHandles = new WeakSet();
  const patchHandle = (handle) => {
    // `close` is a property of each FileHandle; the other methods live on the prototype.
    handle.close = timed(handle.close);
    const proto = Object.getPrototypeOf(handle);
    if (patchedHandles.has(proto)) return;
    patchedHandles.add(proto);
    for (const name of ['read', 'readFile', 'write', 'writeFile', 'sync', 'datasync', 'stat']) {
      if (typeof proto[name] === 'function') proto[name] = timed(proto[name]);
    }
  };
  for (const [name, fn] of Object.entries(fs.promises)) {
    if (typeof fn !== 'function' || name === 'constants') continue;
    const wrapped = timed(fn);
    fs.promises[name] =
      name === 'open'
        ? async (...args) => {
            const handle = await wrapped(...args);
            patchHandle(handle);
            return handle;
          }
        : wrapped;
  }
  process.on('exit', () => {
    if (inFlight > 0) intervals.push(since, nowUs());
    fs.writeFileSync(out, JSON.stringify({ intervals, modules: Object.keys(require.cache).length }));
  });
}
