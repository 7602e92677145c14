// One registry of Byzantine attacks and one spec grammar for both places that inject them: the
// outbox fault seam of `zcoll bench` (plan.ts, rank-faults.ts) and the training contribution hook
// (lib/train/byzantine.ts). Every spelling means the same at both sites, bad specs fail with
// EINVAL naming the spec and the grammar, the older spellings show their rewrite, and attacks made
// of the honest vectors run only where those are known.
import t from 'tap';
import { isZcollError } from '../../lib/errors.js';
import { Prng } from '../../lib/prng.js';
import { ATTACK_REGISTRY, BYZANTINE_ATTACKS, createAttack, fieldAccepts } from '../../lib/faults/attacks/registry.js';
import { alie } from '../../lib/faults/attacks/alie.js';
import { gaussian } from '../../lib/faults/attacks/gaussian.js';
import { ipm } from '../../lib/faults/attacks/ipm.js';
import { BYZANTINE_SPEC_GRAMMAR, byzantineSpecFromJson, formatByzantineSpec, parseByzantineSpec, type ByzantineSpec } from '../../lib/faults/byzantine-spec.js';
import { buildFaultPlan } from '../../lib/faults/plan.js';
import { RankFaults } from '../../lib/faults/rank-faults.js';
import * as train from '../../lib/train/index.js';
import type { OutgoingMessage } from '../../lib/transport/outbox.js';
import { dataHeader } from '../../lib/transport/wire.js';

const SIZE = 4;
const HONEST = [Float32Array.from([1, 2, -3]), Float32Array.from([3, 6, -1]), Float32Array.from([5, 1, 2])];
const OWN = Float32Array.from([0.5, -2, 4]);

function directMessage(rank: number, values: Float32Array): OutgoingMessage {
  const header = dataHeader(rank, 1, 0, { op: 'exchange', dtype: 'float32', count: values.length, redop: 'sum', root: -1 }, rank, 0, values.length);
  return { peer: (rank + 1) % SIZE, header, payload: new Uint8Array(values.slice().buffer) };
}

/** What the seam of `rank` sends instead of OWN, the honest rows shown. */
async function atSeam(spec: string, rank: number): Promise<Float32Array> {
  const faults = new RankFaults(buildFaultPlan({ byzantine: [spec] }), rank, SIZE, { exit: (_code, why) => t.fail(why) });
  faults.honestView = () => HONEST;
  faults.beginStep(0, 1);
  const out = await faults.seam(directMessage(rank, OWN));
  if (out === null || out.payload === undefined) throw new Error('the seam dropped the message');
  return new Float32Array(out.payload.slice().buffer);
}

/** What the training hook of `rank` contributes instead of OWN, the honest gradients shown. */
async function atHook(spec: string, rank: number): Promise<Float32Array> {
  const hook = train.byzantineContribution(train.parseByzantineSpec(spec, SIZE), { rank, size: SIZE, honestGradients: async () => HONEST });
  if (hook === undefined) throw new Error(`no hook on rank ${rank}`);
  return hook({ own: OWN, step: 0, rank });
}

t.test('one registry: the union of both former lists, fields within their bounds, one parser exported', async (t) => {
  const formerSeam = ['alie', 'signflip', 'gaussian', 'nan', 'inf'];
  const formerTraining = ['alie', 'ipm', 'scaledflip', 'signflip', 'gaussian', 'mimic', 'zero'];
  t.same([...BYZANTINE_ATTACKS].sort(), [...new Set([...formerSeam, ...formerTraining])].sort(), 'every attack of either list, and no other');
  t.same(Object.keys(ATTACK_REGISTRY).sort(), [...BYZANTINE_ATTACKS].sort(), 'one entry per attack');
  for (const name of BYZANTINE_ATTACKS) {
    const entry = ATTACK_REGISTRY[name];
    t.equal(entry.name, name);
    for (const f of entry.fields) t.ok(fieldAccepts(f, f.default), `${name}.${f.name}: the default ${String(f.default)} is within its own bounds`);
  }
  t.same(
    BYZANTINE_ATTACKS.filter((a) => ATTACK_REGISTRY[a].honest === 'required'),
    ['alie', 'ipm', 'mimic'],
    'the attacks made of the honest vectors',
  );
  t.equal(train.parseByzantineSpec, parseByzantineSpec, 'the training layer exports the one parser');
  t.equal(train.ATTACK_REGISTRY, ATTACK_REGISTRY, 'and the one registry');
  t.equal(train.BYZANTINE_ATTACKS, BYZANTINE_ATTACKS);
  // The registry's defaults are the attacks' own.
  const input = { own: OWN, honest: HONEST, prng: new Prng(3) };
  t.same(Array.from(createAttack('alie')(input)), Array.from(alie()(input)), 'alie: tau 1.5');
  t.same(Array.from(createAttack('ipm')(input)), Array.from(ipm()(input)), 'ipm: tau 2');
  t.same(Array.from(createAttack('gaussian', { sigma: 10, additive: true })({ ...input, prng: new Prng(5) })), Array.from(gaussian({ sigma: 10, additive: true })({ ...input, prng: new Prng(5) })));
  t.throws(() => createAttack('gaussian', { sigma: 0 }), { code: 'EINVAL', message: /field 'sigma' of attack 'gaussian' must be a finite number > 0/ }, 'a hand-built spec is checked too');
  t.throws(() => createAttack('zero', { scale: 2 }), { code: 'EINVAL', message: /no field 'scale'/ });
});

t.test('both sites accept the same spellings and send the same attacked vector', async (t) => {
  // Spellings with every attack, several ranks, every field kind, and names in other cases.
  const specs: Array<{ text: string; spec: ByzantineSpec; random?: boolean }> = [
    { text: 'alie:ranks=2,tau=1.5', spec: { attack: 'alie', ranks: [2], options: { tau: 1.5 } } },
    { text: 'ipm:ranks=1+3,tau=0.5', spec: { attack: 'ipm', ranks: [1, 3], options: { tau: 0.5 } } },
    { text: 'sign-flip:ranks=3+1', spec: { attack: 'signflip', ranks: [1, 3], options: {} } },
    { text: 'mimic:ranks=0,target=2', spec: { attack: 'mimic', ranks: [0], options: { target: 2 } } },
    { text: 'scaledFlip:ranks=1,scale=7', spec: { attack: 'scaledflip', ranks: [1], options: { scale: 7 } } },
    { text: 'gaussian:ranks=1+3,sigma=10,additive=true', spec: { attack: 'gaussian', ranks: [1, 3], options: { sigma: 10, additive: true } }, random: true },
    { text: ' zero:ranks=2 ', spec: { attack: 'zero', ranks: [2], options: {} } },
    { text: 'nan:ranks=0,fraction=0.5', spec: { attack: 'nan', ranks: [0], options: { fraction: 0.5 } }, random: true },
    { text: 'inf:ranks=3', spec: { attack: 'inf', ranks: [3], options: {} } },
  ];
  for (const { text, spec, random } of specs) {
    t.same(parseByzantineSpec(text, SIZE), spec, `'${text}' parses`);
    t.same(buildFaultPlan({ byzantine: [text] }).byzantine, [spec], `'${text}': the bench's --byzantine reads the same`);
    t.same(byzantineSpecFromJson({ attack: spec.attack, ranks: spec.ranks, ...spec.options }, 'f.json: byzantine[0]'), spec, `'${text}': and the JSON form`);
    t.same(parseByzantineSpec(formatByzantineSpec(spec)), spec, `'${formatByzantineSpec(spec)}': the canonical spelling parses back`);
    const rank = spec.ranks[0];
    const seam = await atSeam(text, rank);
    const hook = await atHook(text, rank);
    t.equal(seam.length, OWN.length);
    t.equal(hook.length, OWN.length);
    if (random === true) {
      // Noise streams differ per site; both must have attacked.
      t.notSame(Array.from(seam), Array.from(OWN), `'${text}': the seam replaced the payload`);
      t.notSame(Array.from(hook), Array.from(OWN), `'${text}': the hook replaced the gradient`);
    } else {
      const expect = createAttack(spec.attack, spec.options)({ own: OWN, honest: HONEST, prng: new Prng(1) });
      t.same(Array.from(seam), Array.from(expect), `'${text}': the seam sends the registry's attack`);
      t.same(Array.from(hook), Array.from(expect), `'${text}': the hook contributes the same`);
    }
  }
});

t.test('bad specs: EINVAL naming the spec and the grammar, at both sites', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /non-empty/],
    ['alie', /expected an attack name/],
    ['boom:ranks=1', /unknown attack 'boom' \(attacks: alie, ipm/],
    ['alie:tau=1', /field 'ranks' is required/],
    ['alie:ranks=x', /field 'ranks' must list integers >= 0, got 'x'/],
    ['alie:ranks=1+', /an empty rank/],
    ['alie:ranks=1+1', /lists a rank twice/],
    ['alie:ranks=2,tau=abc', /field 'tau' must be a finite number, got 'abc'/],
    ['alie:ranks=2,sigma=1', /unknown field 'sigma' for alie \(fields: ranks, tau\)/],
    ['gaussian:ranks=1,sigma=-1', /field 'sigma' must be a finite number > 0/],
    ['gaussian:ranks=1,additive=maybe', /field 'additive' must be true or false/],
    ['nan:ranks=1,fraction=2', /field 'fraction' must be a finite number in \(0, 1\]/],
    ['mimic:ranks=1,target=0.5', /field 'target' must be an integer >= 0/],
    ['zero:ranks=1,,', /empty field/],
    ['zero:ranks=1,ranks=2', /field 'ranks' given twice/],
    ['alie:ranks=1:tau', /separated by ','/],
  ];
  for (const [text, problem] of bad) {
    for (const [site, parse] of [
      ['parseByzantineSpec', () => parseByzantineSpec(text, SIZE)],
      ['zcoll bench --byzantine', () => buildFaultPlan({ byzantine: [text] })],
    ] as const) {
      try {
        parse();
        t.fail(`${site} '${text}': no error`);
      } catch (e) {
        t.ok(isZcollError(e, 'EINVAL'), `${site} '${text}': EINVAL`);
        const message = (e as Error).message;
        t.match(message, problem, `${site} '${text}': says what is wrong`);
        t.ok(message.includes(JSON.stringify(text)), `${site} '${text}': names the spec`);
        t.ok(message.includes(BYZANTINE_SPEC_GRAMMAR), `${site} '${text}': shows the grammar`);
      }
    }
  }
  t.throws(() => parseByzantineSpec('alie:ranks=4', SIZE), { code: 'EINVAL', message: /names rank 4, but the world has ranks 0..3/ }, 'with a world size: ranks outside it');
});

t.test('the older spellings fail with EINVAL that shows the new one', async (t) => {
  const older: Array<[string, string]> = [
    ['signflip:ranks=1,3', 'signflip:ranks=1+3'], // the bench's ',' between ranks
    ['alie:ranks=2,3,tau=1.5', 'alie:ranks=2+3,tau=1.5'],
    ['alie:ranks=2:tau=1.5', 'alie:ranks=2,tau=1.5'], // the training layer's ':' between fields
    ['gaussian:ranks=1,3:sigma=10', 'gaussian:ranks=1+3,sigma=10'],
  ];
  for (const [old, rewrite] of older) {
    t.throws(() => parseByzantineSpec(old), { code: 'EINVAL', message: new RegExp(`write '${rewrite.replace(/[+.]/g, '\\$&')}'`) }, `'${old}' shows '${rewrite}'`);
    t.ok(parseByzantineSpec(rewrite).ranks.length > 0, `'${rewrite}' parses`);
  }
  t.same(parseByzantineSpec('alie:ranks=2,tau=1.5'), parseByzantineSpec(formatByzantineSpec(parseByzantineSpec('alie:ranks=2,tau=1.5'))), 'one-rank specs of the bench are unchanged');
});

t.test('attacks made of the honest vectors run only where those are known', async (t) => {
  // The seam: a bench case that cannot show the honest rows refuses them on every rank alike.
  for (const rank of [0, 3]) {
    const faults = new RankFaults(buildFaultPlan({ byzantine: ['mimic:ranks=3'] }), rank, SIZE);
    t.throws(
      () => {
        faults.honestView = undefined;
      },
      { code: 'EINVAL', message: /byzantine mimic: this bench case cannot show .* honest ranks' vectors/ },
      `rank ${rank}: mimic without a view is refused`,
    );
    faults.honestView = () => HONEST;
    t.ok(faults.honestView !== undefined, `rank ${rank}: with a view it runs`);
  }
  const flip = new RankFaults(buildFaultPlan({ byzantine: ['signflip:ranks=1'] }), 1, SIZE);
  flip.honestView = undefined;
  flip.beginStep(0, 1);
  const out = await flip.seam(directMessage(1, OWN));
  t.same(Array.from(new Float32Array(out!.payload!.slice().buffer)), Array.from(OWN).map((v) => -v), 'signflip without a view negates the own payload');

  // The training hook: without honestGradients, refused on every rank (honest ones too).
  for (const attack of ['alie', 'ipm', 'mimic']) {
    for (const rank of [0, 2]) {
      t.throws(() => train.byzantineContribution(parseByzantineSpec(`${attack}:ranks=2`), { rank, size: SIZE }), { code: 'EINVAL', message: new RegExp(`'${attack}:ranks=2'.*honestGradients`) }, `${attack}, rank ${rank}: refused without honestGradients`);
    }
  }
  const hook = train.byzantineContribution(parseByzantineSpec('signflip:ranks=2'), { rank: 2, size: SIZE })!;
  t.same(Array.from(await hook({ own: OWN, step: 0, rank: 2 })), Array.from(OWN).map((v) => -v), 'signflip without honestGradients negates the own gradient');
  t.throws(() => train.byzantineContribution(parseByzantineSpec('zero:ranks=5'), { rank: 0, size: SIZE }), { code: 'EINVAL', message: /rank 5 is not in the world/ });
});
