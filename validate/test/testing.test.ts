/** expectValidManifests, as a platform repository's snapshot test uses it. */
import { expectValidManifests } from '../src';
import { brokenFleet, CLEAN_FLEET, readManifests } from './fixtures';

/** Stands for a cdk8s Chart: `Testing.synth(chart)` is `chart.toJson()`. */
const chartOf = (objects: unknown[]) => ({ toJson: () => objects });

test('returns the manifests of a clean chart, e.g. for a snapshot', () => {
  const objects = readManifests(CLEAN_FLEET);
  expect(expectValidManifests(chartOf(objects))).toEqual(objects);
  expect(expectValidManifests(objects)).toEqual(objects);
});

test('throws listing every finding grouped by object, with its rule and fix', () => {
  expect(() => expectValidManifests(chartOf(brokenFleet('AF201')))).toThrow(
    /the manifests have 1 finding\(s\):\nScaledJob research\/research-stream\n {2}error {3}AF201 {2}spec\.scalingStrategy\.strategy is "default".*\n.*fix: set scalingStrategy\.strategy: accurate/,
  );
});

test('failOn: error lets warnings through', () => {
  const warned = brokenFleet('AF205');
  expect(() => expectValidManifests(warned)).toThrow(/AF205/);
  expect(expectValidManifests(warned, { failOn: 'error' })).toHaveLength(warned.length);
});
