// spinStyle (busy-poll.ts): how a rank waits, from the poll mode, the ranks on its machine (all of its
// kernel's ranks, other network namespaces included: init() counts them by machine key), whether it
// can yield, the cores, and whether some ranks are on other hosts. The table is the rule as written.
import t from 'tap';
import { spinStyle, type PollMode, type SpinStyle } from '../../lib/comm/busy-poll.js';

const cases: Array<[PollMode, number, boolean, number, boolean, SpinStyle, string]> = [
  ['auto', 2, true, 2, false, 'spin', 'no more ranks than cores: spin'],
  ['auto', 2, true, 2, true, 'spin', 'across hosts too, with a core each'],
  ['auto', 4, true, 2, false, 'yield', 'one host, oversubscribed: spin politely'],
  ['auto', 4, true, 2, true, 'none', 'oversubscribed with peers on other hosts (2 namespaces x 2 on 2 cores): sleep'],
  ['auto', 4, false, 2, false, 'none', 'oversubscribed and cannot yield: sleep'],
  ['spin', 4, true, 2, true, 'yield', "'spin' asked: still polls, yielding"],
  ['spin', 4, false, 2, true, 'spin', "'spin' asked and cannot yield: spins"],
  ['sleep', 1, true, 2, false, 'none', "'sleep' never spins"],
];

for (const [mode, ranks, canYield, cores, acrossHosts, want, why] of cases) {
  t.equal(spinStyle(mode, ranks, canYield, cores, acrossHosts), want, `${mode}, ${ranks} ranks on ${cores} cores${acrossHosts ? ', across hosts' : ''}${canYield ? '' : ', no yield'}: ${why}`);
}
