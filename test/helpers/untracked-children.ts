/**
 * Loaded into every test process (package.json tap.node-arg). tap's @tapjs/processinfo adds an
 * `--import` of itself to NODE_OPTIONS for every process a test spawns, to track them for coverage,
 * which this suite does not collect. Each rank, launcher and CLI process then runs an off-thread module
 * loader: 0.6 -> 1.6 s of CPU for a rank that loads zcoll and tfjs (measured), on a suite that starts
 * about a thousand of them. This listener runs after processinfo's at every spawn (the same
 * process-on-spawn hook it uses) and takes that one entry back out; any other NODE_OPTIONS stay.
 */
interface SpawnOptions {
  env: Record<string, string | undefined>;
}

const state = (globalThis as Record<symbol, { listeners: Array<(o: SpawnOptions) => void> } | undefined>)[Symbol.for('process-on-spawn@*:singletonId')];
const PROCESSINFO = /"?--import=[^"\s]*@tapjs\/processinfo[^"\s]*"?/g;

state?.listeners.push((opts) => {
  const before = opts.env.NODE_OPTIONS;
  if (before === undefined || !before.includes('@tapjs/processinfo')) return;
  const after = before.replace(PROCESSINFO, '').trim();
  const env = { ...opts.env };
  if (after === '') delete env.NODE_OPTIONS;
  else env.NODE_OPTIONS = after;
  opts.env = env;
});

export {};
