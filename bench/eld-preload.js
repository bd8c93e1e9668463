// Loaded with `--require` (NODE_OPTIONS) into a benchmarked process: records its event-loop delay
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and writes p50, p99 and max in ms, as JSON, to
// the file named by BENCH_ELD_OUT when the process exits. Recording starts once the main module
// has run, so the synchronous loading of the code, the same for every run, is not counted.
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');

const out = process.env.BENCH_ELD_OUT;
if (out) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  setImmediate(() => histogram.enable());
  process.on('exit', () => {
    histogram.disable();
    const ms = (ns) => ns / 1e6;
    writeFileSync(
      out,
      JSON.stringify({
        p50: ms(histogram.percentile(50)),
        p99: ms(histogram.percentile(99)),
        max: ms(histogram.max),
        samples: histogram.count,
      }),
    );
  });
}
