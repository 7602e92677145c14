/**
 * Where the small-message mailboxes sit in a rank's shared-memory region (after its payload slots;
 * shm-region.ts makes the region, shm-mailbox.ts moves the messages). All offsets are bytes from
 * the region's mailbox start, 64-byte aligned so that words written by different processes never
 * share a cache line:
 *   +0                      owner's polling word (1 while the owner busy-polls its incoming mailboxes)
 *   +64 + 128*i             lane i: the peer it carries messages to, then head (messages published by the owner)
 *   +64 + 128*i + 64        lane i: tail (messages the peer has consumed; written by the peer)
 *   +64 + 128*lanes + ...   lane i's MAILBOX_SLOTS slots of MAILBOX_SLOT_BYTES:
 *                           [header bytes (int32), payload bytes (int32), header, pad to 8, payload]
 */
export const MAILBOX_SLOTS = 16;
/** Largest payload a mailbox carries: the latency-bound sizes (larger ones take the slot path). */
export const MAILBOX_MAX_PAYLOAD = 64 * 1024;
/** Largest encoded header a mailbox slot carries (headers are ~100-200 bytes). */
export const MAILBOX_MAX_HEADER = 2048 - 8;
export const MAILBOX_SLOT_BYTES = MAILBOX_MAX_PAYLOAD + 2048;
/** Int32 index of the polling word, and of a lane's fields relative to its control block. */
export const POLLING_WORD = 0;
export const LANE_PEER_WORD = 0;
export const LANE_HEAD_WORD = 1;
export const LANE_TAIL_WORD = 16;
export const MAILBOX_LANE_WORDS = 32;

export function laneControlOffset(lane: number): number {
  return 64 + 128 * lane;
}

export function slotOffset(lanes: number, lane: number, slot: number): number {
  return 64 + 128 * lanes + (lane * MAILBOX_SLOTS + slot) * MAILBOX_SLOT_BYTES;
}

/** Bytes of the mailbox area for `lanes` peers. */
export function mailboxBytes(lanes: number): number {
  return slotOffset(lanes, lanes, 0);
}
