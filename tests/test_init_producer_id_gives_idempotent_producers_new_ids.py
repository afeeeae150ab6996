"""InitProducerId without a transactional id, as Kafka's transaction coordinator answers it:
every call gets a fresh producer id at epoch 0, also when it names an (id, epoch) it already
has (KIP-360's epoch bump is for transactional producers only), and naming half an identity
is an invalid request."""

import kafka_wire

ERROR_INVALID_REQUEST = 42


def test_a_producer_naming_its_id_and_epoch_gets_a_new_id(broker):
    b = broker()
    with kafka_wire.connect(b.bootstrap) as sock:
        error, first_id, first_epoch = kafka_wire.init_producer_id_v4(sock, 1)
        assert (error, first_epoch) == (kafka_wire.ERROR_NONE, 0) and first_id >= 0

        error, again_id, again_epoch = kafka_wire.init_producer_id_v4(sock, 2, first_id, first_epoch)
        assert error == kafka_wire.ERROR_NONE
        assert (again_id != first_id, again_epoch) == (True, 0), (
            f"asked with ({first_id}, {first_epoch}), got ({again_id}, {again_epoch}): "
            "an idempotent producer must get a new id, not a bumped epoch"
        )

        ids = {first_id, again_id}
        for correlation_id in range(3, 8):
            error, producer_id, epoch = kafka_wire.init_producer_id_v4(sock, correlation_id, again_id, 5)
            assert (error, epoch) == (kafka_wire.ERROR_NONE, 0)
            ids.add(producer_id)
        assert len(ids) == 7, f"producer ids were reused: {sorted(ids)}"


def test_half_a_producer_identity_is_an_invalid_request(broker):
    b = broker()
    with kafka_wire.connect(b.bootstrap) as sock:
        assert kafka_wire.init_producer_id_v4(sock, 1, 1234, -1)[0] == ERROR_INVALID_REQUEST
        assert kafka_wire.init_producer_id_v4(sock, 2, -1, 3)[0] == ERROR_INVALID_REQUEST
