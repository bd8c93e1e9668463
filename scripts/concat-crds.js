/**
 * `npm run import`, step 1: `cdk8s import` writes one module per import entry, and entries of the
 * same API group overwrite each other, so the CRDs of each upstream folder in ../shared/crds are
 * joined into one multi-document file under .crds/ (git-ignored) that cdk8s.yaml imports.
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const sources = {
  keda: 'keda-2.16.1',
  'prometheus-operator': 'prometheus-operator-v0.93.0',
  kueue: 'kueue-v0.19.2',
};
const crds = path.join(root, '..', 'shared', 'crds');
if (!fs.existsSync(crds)) {
  console.error(
    `${crds} not found: npm run import regenerates imports/ from the upstream CRDs, which only maintainers need.`,
  );
  process.exit(1);
}
fs.mkdirSync(path.join(root, '.crds'), { recursive: true });
for (const [name, folder] of Object.entries(sources)) {
  const dir = path.join(crds, folder);
  const docs = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim());
  fs.writeFileSync(path.join(root, '.crds', `${name}.yaml`), `${docs.join('\n---\n')}\n`);
  console.log(`.crds/${name}.yaml: ${docs.length} CRDs from ${folder}`);
}
