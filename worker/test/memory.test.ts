/**
 * The memory watch judges the working set (usage − inactive_file), as the kubelet does: page cache
 * a handler's file writes left behind is dropped before any OOM kill, so it must not stop the
 * worker. Each case writes a real cgroup-style tree into a temp dir.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { cgroupMemorySource, memoryHigh } from '../src/memory';

const MiB = 1024 * 1024;
const V1_UNLIMITED = '9223372036854771712';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'agent-memory-test-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

let trees = 0;
async function tree(files: Record<string, string>): Promise<string> {
  trees += 1;
  const root = path.join(scratch, `cgroup-${trees}`);
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await fs.writeFile(path.join(root, name), text);
  }
  return root;
}

/** A cgroup v2 memory.stat as the kernel writes it, with `inactive_file` left out when undefined. */
function v2Stat(inactiveFile: number | undefined): string {
  return [
    'anon 67108864',
    'file 771751936',
    'kernel 4194304',
    'kernel_stack 131072',
    'pagetables 262144',
    'sock 0',
    'shmem 0',
    'file_mapped 1048576',
    'file_dirty 0',
    'file_writeback 0',
    'anon_thp 0',
    'inactive_anon 67108864',
    'active_anon 0',
    ...(inactiveFile === undefined ? [] : [`inactive_file ${inactiveFile}`]),
    'active_file 37748736',
    'unevictable 0',
    'slab_reclaimable 1048576',
    'slab_unreclaimable 524288',
    'workingset_refault_file 0',
    'workingset_activate_file 0',
    'pgfault 123456',
    'pgmajfault 12',
    '',
  ].join('\n');
}

/**
 * A cgroup v1 memory.stat: this cgroup's own counters, then the `total_` ones that include its
 * descendants (the usage counts those too).
 */
function v1Stat(inactiveFile: number | undefined, totalInactiveFile: number | undefined): string {
  return [
    'cache 771751936',
    'rss 67108864',
    'rss_huge 0',
    'shmem 0',
    'mapped_file 1048576',
    'dirty 0',
    'writeback 0',
    'pgpgin 200000',
    'pgpgout 10000',
    'pgfault 123456',
    'pgmajfault 12',
    'inactive_anon 67108864',
    'active_anon 0',
    ...(inactiveFile === undefined ? [] : [`inactive_file ${inactiveFile}`]),
    'active_file 37748736',
    'unevictable 0',
    'hierarchical_memory_limit 536870912',
    'total_cache 771751936',
    'total_rss 67108864',
    'total_inactive_anon 67108864',
    'total_active_anon 0',
    ...(totalInactiveFile === undefined ? [] : [`total_inactive_file ${totalInactiveFile}`]),
    'total_active_file 37748736',
    'total_unevictable 0',
    '',
  ].join('\n');
}

function v2Tree(limit: string, usage: number, stat: string | undefined): Promise<string> {
  return tree({
    'memory.max': `${limit}\n`,
    'memory.current': `${usage}\n`,
    ...(stat === undefined ? {} : { 'memory.stat': stat }),
  });
}

function v1Tree(limit: string, usage: number, stat: string | undefined): Promise<string> {
  return tree({
    'memory/memory.limit_in_bytes': `${limit}\n`,
    'memory/memory.usage_in_bytes': `${usage}\n`,
    ...(stat === undefined ? {} : { 'memory/memory.stat': stat }),
  });
}

/**
 * With no limit in the tree the source falls through to `process.constrainedMemory()`, which reads
 * the cgroup this test itself runs in: undefined unless that one has a limit.
 */
async function expectNoLimitFromTree(root: string): Promise<void> {
  const sample = await cgroupMemorySource(root)();
  const host = process.constrainedMemory?.();
  if (host === undefined || host <= 0 || host >= 2 ** 60) {
    expect(sample).toBeUndefined();
  } else {
    expect(sample).toEqual({ usedBytes: expect.any(Number), limitBytes: host });
  }
}

const limit512 = String(512 * MiB);

describe('cgroup v2', () => {
  test('a 700 MiB page cache on 64 MiB of anon memory leaves a 100 MiB working set: not high', async () => {
    const root = await v2Tree(limit512, 800 * MiB, v2Stat(700 * MiB));
    const sample = await cgroupMemorySource(root)();
    expect(sample).toEqual({
      usedBytes: 100 * MiB,
      limitBytes: 536870912,
      usageBytes: 800 * MiB,
      inactiveFileBytes: 734003200,
    });
    expect(memoryHigh(sample, 0.9)).toBe(false);
  });

  test('without inactive_file in memory.stat, the raw usage counts (and is high)', async () => {
    const root = await v2Tree(limit512, 800 * MiB, v2Stat(undefined));
    const sample = await cgroupMemorySource(root)();
    expect(sample).toEqual({ usedBytes: 800 * MiB, limitBytes: 536870912, usageBytes: 800 * MiB });
    expect(memoryHigh(sample, 0.9)).toBe(true);
  });

  test('a missing or unparsable memory.stat falls back to the raw usage', async () => {
    for (const stat of [undefined, '', 'inactive_file lots\n', 'inactive_file\n', 'inactive_file -5\n']) {
      const sample = await cgroupMemorySource(await v2Tree(limit512, 800 * MiB, stat))();
      expect(sample).toEqual({ usedBytes: 800 * MiB, limitBytes: 536870912, usageBytes: 800 * MiB });
    }
  });

  test('only the exact key counts: total_inactive_file is not a v2 key', async () => {
    const stat = `total_inactive_file ${700 * MiB}\nworkingset_refault_file 5\n`;
    const sample = await cgroupMemorySource(await v2Tree(limit512, 800 * MiB, stat))();
    expect(sample?.usedBytes).toBe(800 * MiB);
  });

  test('inactive_file above the usage clamps the working set at 0', async () => {
    const root = await v2Tree(limit512, 10 * MiB, v2Stat(20 * MiB));
    const sample = await cgroupMemorySource(root)();
    expect(sample?.usedBytes).toBe(0);
    expect(memoryHigh(sample, 0.9)).toBe(false);
  });

  test('an unlimited memory.max ("max") is no limit', async () => {
    await expectNoLimitFromTree(await v2Tree('max', 800 * MiB, v2Stat(700 * MiB)));
  });
});

describe('cgroup v1', () => {
  test("total_inactive_file is preferred over this cgroup's own inactive_file", async () => {
    const root = await v1Tree(limit512, 800 * MiB, v1Stat(4096, 700 * MiB));
    const sample = await cgroupMemorySource(root)();
    expect(sample).toEqual({
      usedBytes: 100 * MiB,
      limitBytes: 536870912,
      usageBytes: 800 * MiB,
      inactiveFileBytes: 734003200,
    });
    expect(memoryHigh(sample, 0.9)).toBe(false);
  });

  test('without total_inactive_file, inactive_file is used', async () => {
    const root = await v1Tree(limit512, 800 * MiB, v1Stat(700 * MiB, undefined));
    const sample = await cgroupMemorySource(root)();
    expect(sample?.usedBytes).toBe(100 * MiB);
    expect(memoryHigh(sample, 0.9)).toBe(false);
  });

  test('without either key, or without memory.stat, the raw usage counts (and is high)', async () => {
    for (const stat of [v1Stat(undefined, undefined), undefined, 'total_inactive_file n/a\n']) {
      const sample = await cgroupMemorySource(await v1Tree(limit512, 800 * MiB, stat))();
      expect(sample).toEqual({ usedBytes: 800 * MiB, limitBytes: 536870912, usageBytes: 800 * MiB });
      expect(memoryHigh(sample, 0.9)).toBe(true);
    }
  });

  test('inactive file pages above the usage clamp the working set at 0', async () => {
    const root = await v1Tree(limit512, 10 * MiB, v1Stat(20 * MiB, 20 * MiB));
    expect((await cgroupMemorySource(root)())?.usedBytes).toBe(0);
  });

  test('the page-rounded 2^63 − 1 limit is no limit', async () => {
    await expectNoLimitFromTree(await v1Tree(V1_UNLIMITED, 800 * MiB, v1Stat(700 * MiB, 700 * MiB)));
  });
});

test('v2 wins over v1 when both trees are present', async () => {
  const root = await tree({
    'memory.max': `${limit512}\n`,
    'memory.current': `${300 * MiB}\n`,
    'memory.stat': v2Stat(100 * MiB),
    'memory/memory.limit_in_bytes': `${limit512}\n`,
    'memory/memory.usage_in_bytes': `${500 * MiB}\n`,
    'memory/memory.stat': v1Stat(0, 0),
  });
  expect((await cgroupMemorySource(root)())?.usedBytes).toBe(200 * MiB);
});

test('property: usedBytes = max(0, usage − inactive) on v1 and v2, and memoryHigh follows it', async () => {
  // Byte counts stay exact as numbers up to 2^53; limits stay below the "unlimited" cut-off.
  const bytes = fc.integer({ min: 1, max: 2 ** 52 });
  await fc.assert(
    fc.asyncProperty(
      bytes,
      bytes,
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      async (usage, limit, inactive, fraction) => {
        const expected = Math.max(0, usage - inactive);
        const roots = [
          await v2Tree(String(limit), usage, v2Stat(inactive)),
          await v1Tree(String(limit), usage, v1Stat(0, inactive)),
        ];
        for (const root of roots) {
          const sample = await cgroupMemorySource(root)();
          expect(sample?.usedBytes).toBe(expected);
          expect(sample?.limitBytes).toBe(limit);
          expect(memoryHigh(sample, fraction)).toBe(expected >= limit * fraction);
        }
      },
    ),
    { numRuns: 200 },
  );
});
