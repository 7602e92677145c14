/**
 * The link between two ranks as the layers above see it: ordered delivery of multi-frame messages
 * from this rank to one peer. ZeroMQ (ipc:// or tcp://) implements it today; a shared-memory link
 * for ranks of one host slots in behind the same interface.
 */
export type LinkKind = 'ipc' | 'tcp' | 'shm';

export interface Link {
  readonly peer: number;
  readonly kind: LinkKind;
  /** Queues one message (header frame + optional payload frame). Messages to one peer arrive in order. */
  send(frames: ReadonlyArray<Uint8Array>): Promise<void>;
  close(): void;
}
