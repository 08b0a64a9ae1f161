import { describe, expect, it } from 'vitest';
import { DeliveryState, TransferProtocol, TransferState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { DeliveryStateName } from '../src/db/schema.js';
import {
  deliveryStates,
  FINAL_DELIVERY_STATES,
  FINAL_TRANSFER_STATES,
  isFinalDelivery,
  isFinalTransfer,
  protocols,
  transferOutcome,
  transferStates,
} from '../src/domain/states.js';

describe('transferOutcome', () => {
  it('is undefined while a delivery is open, or when there is none', () => {
    expect(transferOutcome([])).toBeUndefined();
    for (const open of ['pending', 'notified', 'accepted'] as const) {
      expect(transferOutcome([open])).toBeUndefined();
      expect(transferOutcome(['delivered', open])).toBeUndefined();
      expect(transferOutcome(['refused', 'expired', open])).toBeUndefined();
    }
  });

  it('is DELIVERED when every recipient confirmed', () => {
    expect(transferOutcome(['delivered'])).toBe('delivered');
    expect(transferOutcome(['delivered', 'delivered', 'delivered'])).toBe('delivered');
  });

  it('is PARTIALLY_DELIVERED when some, not all, confirmed, whatever the others did', () => {
    for (const other of ['refused', 'expired', 'cancelled', 'failed'] as const) {
      expect(transferOutcome(['delivered', other])).toBe('partially_delivered');
      expect(transferOutcome([other, 'delivered', 'delivered'])).toBe('partially_delivered');
    }
  });

  it('is REFUSED only when every recipient refused', () => {
    expect(transferOutcome(['refused'])).toBe('refused');
    expect(transferOutcome(['refused', 'refused'])).toBe('refused');
    expect(transferOutcome(['refused', 'failed'])).toBe('failed');
  });

  it('without any confirmation: cancelled, then expired, then failed', () => {
    expect(transferOutcome(['cancelled'])).toBe('cancelled');
    expect(transferOutcome(['refused', 'cancelled', 'expired'])).toBe('cancelled');
    expect(transferOutcome(['expired'])).toBe('expired');
    expect(transferOutcome(['refused', 'expired', 'failed'])).toBe('expired');
    expect(transferOutcome(['failed'])).toBe('failed');
    expect(transferOutcome(['failed', 'refused'])).toBe('failed');
  });

  it('does not depend on the order of the deliveries', () => {
    const states: DeliveryStateName[] = ['refused', 'expired', 'delivered', 'failed'];
    const outcome = transferOutcome(states);
    expect(transferOutcome([...states].reverse())).toBe(outcome);
  });
});

describe('states and their wire names', () => {
  it('maps every transfer and delivery state both ways', () => {
    for (const name of [
      'requested',
      'uploading',
      'committed',
      'delivering',
      ...FINAL_TRANSFER_STATES,
    ] as const) {
      expect(transferStates.fromProto(transferStates.toProto(name))).toBe(name);
    }
    for (const name of ['pending', 'notified', 'accepted', ...FINAL_DELIVERY_STATES] as const) {
      expect(deliveryStates.fromProto(deliveryStates.toProto(name))).toBe(name);
    }
    expect(transferStates.toProto('partially_delivered')).toBe(TransferState.PARTIALLY_DELIVERED);
    expect(deliveryStates.toProto('accepted')).toBe(DeliveryState.ACCEPTED);
    expect(transferStates.fromProto(TransferState.UNSPECIFIED)).toBeUndefined();
    expect(deliveryStates.fromProto(DeliveryState.UNSPECIFIED)).toBeUndefined();
  });

  it('refuses an unspecified protocol', () => {
    expect(protocols.fromProto(TransferProtocol.EDXML)).toBe('edxml');
    expect(protocols.fromProto(TransferProtocol.EDXML_STATUS)).toBe('edxml_status');
    expect(protocols.fromProto(TransferProtocol.PLAIN_DATA)).toBe('plain_data');
    expect(protocols.fromProto(TransferProtocol.UNSPECIFIED)).toBeUndefined();
  });

  it('names the terminal states of the proto', () => {
    expect(FINAL_TRANSFER_STATES.map((s) => transferStates.toProto(s)).sort()).toEqual(
      [
        TransferState.DELIVERED,
        TransferState.PARTIALLY_DELIVERED,
        TransferState.REFUSED,
        TransferState.EXPIRED,
        TransferState.CANCELLED,
        TransferState.FAILED,
      ].sort(),
    );
    expect(isFinalTransfer('delivering')).toBe(false);
    expect(isFinalTransfer('committed')).toBe(false);
    expect(isFinalDelivery('accepted')).toBe(false);
    expect(isFinalDelivery('failed')).toBe(true);
  });
});
