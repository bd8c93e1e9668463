/**
 * The benchmark's account of where time goes (bench/profile.ts with bench/fs-wait-preload.js), on
 * a real `node --cpu-prof` run of a script whose time is known in kind: a module that takes 200 ms
 * to load, CPU in the script's own code, idle
 * with a file operation in flight (an open of a FIFO no one has opened for writing yet, which
 * holds a thread-pool thread until this test opens the other end), and idle with nothing in flight
 * (a timer).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPONENTS, readFileWaits, readProfile, timeByComponent } from '../bench/profile';

const PRELOAD = join(__dirname, '..', 'bench', 'fs-wait-preload.js');

const SCRIPT = `
const fs = require('node:fs');
function spin(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }
require('./dep.js');
(async () => {
  spin(300);
  process.stdout.write('opening\\n');
  const handle = await fs.promises.open(process.argv[2], 'r');
  await handle.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
})();
`;

describe('bench/profile timeByComponent', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-profile-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('splits a real profile into CPU, idle with a file operation in flight and idle without', async () => {
    const script = join(dir, 'script.js');
    writeFileSync(script, SCRIPT);
    // A module whose loading costs 200 ms of its own top-level code.
    writeFileSync(
      join(dir, 'dep.js'),
      'const end = Date.now() + 200; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); module.exports = x;',
    );
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const waits = join(dir, 'fs-waits.json');
    const child = spawn(
      process.execPath,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250', script, fifo],
      { env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: `--require ${PRELOAD}`, BENCH_FS_OUT: waits } },
    );
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => d.includes('opening') && resolve()),
    );
    // The child's open waits for a writer; this one arrives 300 ms later.
    await new Promise((resolve) => setTimeout(resolve, 300));
    closeSync(openSync(fifo, 'w'));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);

    const profile = readProfile(dir);
    const recorded = readFileWaits(waits);
    expect(recorded.intervals).toHaveLength(4); // the open, then the close
    const time = timeByComponent(profile, recorded.intervals, profile.startTime, profile.endTime);
    const total = COMPONENTS.reduce((sum, c) => sum + time[c], 0);
    // Every sample is counted once, in the window.
    expect(total).toBeCloseTo((profile.endTime - profile.startTime) / 1000, -1);
    const openMs = (recorded.intervals[1] - recorded.intervals[0]) / 1000;
    expect(openMs).toBeGreaterThanOrEqual(250);
    expect(time['waiting (a file operation in flight)']).toBeGreaterThan(0.8 * openMs);
    expect(time['waiting (a file operation in flight)']).toBeLessThan(openMs + 20);
    expect(time['waiting (no file operation in flight)']).toBeGreaterThan(250);
    // The spin is the script's own code (not ours, not a dependency's): the fallback component.
    // (The entry script's own top-level code runs inside Node's loader too, and is not loading.)
    expect(time['runtime (other code)']).toBeGreaterThan(200);
    expect(time['runtime (other code)']).toBeLessThan(400);
    expect(time['loading modules']).toBeGreaterThan(150);
    expect(recorded.modules).toBeGreaterThan(0);
  });

  it('counts only the samples inside the window', () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2, 3] },
        { id: 2, callFrame: { functionName: '(idle)', url: '' } },
        { id: 3, callFrame: { functionName: 'f', url: '/x/node_modules/amqplib/lib/a.js' } },
      ],
      startTime: 1000,
      endTime: 1400,
      samples: [3, 2, 3, 2],
      timeDeltas: [0, 100, 100, 100],
    };
    // Samples at 1000 (amqplib, to 1100), 1100 (idle, to 1200), 1200 (amqplib), 1300 (idle, to 1400).
    const all = timeByComponent(profile, [1250, 1350], 1000, 1400);
    expect(all['broker client (amqplib)']).toBeCloseTo(0.2);
    expect(all['waiting (no file operation in flight)']).toBeCloseTo(0.1);
    expect(all['waiting (a file operation in flight)']).toBeCloseTo(0.1);
    const part = timeByComponent(profile, [], 1050, 1150);
    expect(part['broker client (amqplib)']).toBeCloseTo(0.05);
    expect(part['waiting (no file operation in flight)']).toBeCloseTo(0.05);
  });
});
