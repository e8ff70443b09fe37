/* Frame codec: CRC-16/CCITT-FALSE, COBS, little-endian message packing, streaming receiver. */
#include "protocol.h"

#include <string.h>

uint16_t proto_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)data[i] << 8;
        for (uint8_t bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    /* Worst case: one overhead byte per 254 data bytes plus the leading code byte. */
    if (out_cap < len + len / 254 + 1)
        return 0;
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = in[i];
        if (++code == 0xFF && i + 1 < len) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

size_t cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0 || i + code - 1 > len)
            return 0;
        for (uint8_t k = 1; k < code; k++) {
            if (in[i] == 0 || o >= out_cap)
                return 0;
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < len) {
            if (o >= out_cap)
                return 0;
            out[o++] = 0;
        }
    }
    return o;
}

size_t proto_frame(uint8_t seq, uint8_t type, const uint8_t *body, size_t body_len,
                   uint8_t *out, size_t out_cap)
{
    uint8_t raw[PROTO_MAX_DECODED];
    if (body_len > PROTO_MAX_BODY)
        return 0;
    raw[0] = seq;
    raw[1] = type;
    if (body_len)
        memcpy(raw + 2, body, body_len);
    uint16_t crc = proto_crc16(raw, body_len + 2);
    raw[body_len + 2] = (uint8_t)crc;
    raw[body_len + 3] = (uint8_t)(crc >> 8);
    if (out_cap < 2)
        return 0;
    size_t n = cobs_encode(raw, body_len + 4, out + 1, out_cap - 1);
    if (n == 0 || n + 2 > out_cap)
        return 0;
    out[0] = 0;
    out[n + 1] = 0;
    return n + 2;
}

/* ---- little-endian field helpers ---- */
static uint8_t *put16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); return b + 2; }
static uint8_t *put32(uint8_t *b, uint32_t v) { b = put16(b, (uint16_t)v); return put16(b, (uint16_t)(v >> 16)); }
static uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] | ((uint16_t)b[1] << 8)); }
static uint32_t get32(const uint8_t *b) { return get16(b) | ((uint32_t)get16(b + 2) << 16); }

size_t pack_hello(const msg_hello_t *m, uint8_t *b) { b[0] = m->version; return BODY_HELLO; }

int unpack_hello(const uint8_t *b, size_t n, msg_hello_t *m)
{
    if (n != BODY_HELLO)
        return 0;
    m->version = b[0];
    return 1;
}

size_t pack_command(const msg_command_t *m, uint8_t *b)
{
    uint8_t *p = put16(b, (uint16_t)m->throttle);
    p = put16(p, (uint16_t)m->steer);
    *p = m->mode;
    return BODY_COMMAND;
}

int unpack_command(const uint8_t *b, size_t n, msg_command_t *m)
{
    if (n != BODY_COMMAND)
        return 0;
    m->throttle = (int16_t)get16(b);
    m->steer = (int16_t)get16(b + 2);
    m->mode = b[4];
    return 1;
}

size_t pack_calib(const calib_t *c, uint8_t *b)
{
    uint8_t *p = put16(b, c->steer_min_us);
    p = put16(p, c->steer_center_us);
    p = put16(p, c->steer_max_us);
    p = put16(p, c->esc_min_us);
    p = put16(p, c->esc_neutral_us);
    p = put16(p, c->esc_max_us);
    p = put16(p, c->throttle_limit);
    *p = c->flags;
    return BODY_CALIB;
}

int unpack_calib(const uint8_t *b, size_t n, calib_t *c)
{
    if (n != BODY_CALIB)
        return 0;
    c->steer_min_us = get16(b);
    c->steer_center_us = get16(b + 2);
    c->steer_max_us = get16(b + 4);
    c->esc_min_us = get16(b + 6);
    c->esc_neutral_us = get16(b + 8);
    c->esc_max_us = get16(b + 10);
    c->throttle_limit = get16(b + 12);
    c->flags = b[14];
    return 1;
}

size_t pack_set_config(const msg_set_config_t *m, uint8_t *b)
{
    pack_calib(&m->cal, b);
    b[BODY_CALIB] = m->persist;
    return BODY_SET_CONFIG;
}

int unpack_set_config(const uint8_t *b, size_t n, msg_set_config_t *m)
{
    if (n != BODY_SET_CONFIG)
        return 0;
    unpack_calib(b, BODY_CALIB, &m->cal);
    m->persist = b[BODY_CALIB];
    return 1;
}

size_t pack_config(const msg_config_t *m, uint8_t *b)
{
    b[0] = m->status;
    pack_calib(&m->cal, b + 1);
    return BODY_CONFIG;
}

int unpack_config(const uint8_t *b, size_t n, msg_config_t *m)
{
    if (n != BODY_CONFIG)
        return 0;
    m->status = b[0];
    unpack_calib(b + 1, BODY_CALIB, &m->cal);
    return 1;
}

size_t pack_hello_ack(const msg_hello_ack_t *m, uint8_t *b)
{
    b[0] = m->version;
    b[1] = m->fw_major;
    b[2] = m->fw_minor;
    b[3] = m->caps;
    put16(b + 4, m->cmd_timeout_ms);
    b[6] = m->telemetry_hz;
    b[7] = m->reset_flags;
    return BODY_HELLO_ACK;
}

int unpack_hello_ack(const uint8_t *b, size_t n, msg_hello_ack_t *m)
{
    if (n != BODY_HELLO_ACK)
        return 0;
    m->version = b[0];
    m->fw_major = b[1];
    m->fw_minor = b[2];
    m->caps = b[3];
    m->cmd_timeout_ms = get16(b + 4);
    m->telemetry_hz = b[6];
    m->reset_flags = b[7];
    return 1;
}

size_t pack_telemetry(const msg_telemetry_t *m, uint8_t *b)
{
    uint8_t *p = put32(b, m->uptime_ms);
    *p++ = m->ack_seq;
    *p++ = m->mode;
    p = put16(p, m->faults);
    *p++ = m->flags;
    p = put16(p, m->steer_us);
    p = put16(p, m->esc_us);
    p = put16(p, m->rc_steer_us);
    p = put16(p, m->rc_throttle_us);
    p = put16(p, m->rc_mode_us);
    p = put32(p, m->wheel_ticks);
    p = put32(p, m->wheel_period_us);
    for (uint8_t i = 0; i < 3; i++)
        p = put16(p, (uint16_t)m->accel[i]);
    for (uint8_t i = 0; i < 3; i++)
        p = put16(p, (uint16_t)m->gyro[i]);
    p = put16(p, m->rx_bad_frames);
    return (size_t)(p - b);
}

int unpack_telemetry(const uint8_t *b, size_t n, msg_telemetry_t *m)
{
    if (n != BODY_TELEMETRY)
        return 0;
    m->uptime_ms = get32(b);
    m->ack_seq = b[4];
    m->mode = b[5];
    m->faults = get16(b + 6);
    m->flags = b[8];
    m->steer_us = get16(b + 9);
    m->esc_us = get16(b + 11);
    m->rc_steer_us = get16(b + 13);
    m->rc_throttle_us = get16(b + 15);
    m->rc_mode_us = get16(b + 17);
    m->wheel_ticks = get32(b + 19);
    m->wheel_period_us = get32(b + 23);
    for (uint8_t i = 0; i < 3; i++) {
        m->accel[i] = (int16_t)get16(b + 27 + 2 * i);
        m->gyro[i] = (int16_t)get16(b + 33 + 2 * i);
    }
    m->rx_bad_frames = get16(b + 39);
    return 1;
}

size_t pack_fault(const msg_fault_t *m, uint8_t *b)
{
    put16(b, m->fault);
    put32(b + 2, m->uptime_ms);
    return BODY_FAULT;
}

int unpack_fault(const uint8_t *b, size_t n, msg_fault_t *m)
{
    if (n != BODY_FAULT)
        return 0;
    m->fault = get16(b);
    m->uptime_ms = get32(b + 2);
    return 1;
}

size_t pack_heartbeat_ack(const msg_heartbeat_ack_t *m, uint8_t *b)
{
    b[0] = m->echo_seq;
    return BODY_HEARTBEAT_ACK;
}

int unpack_heartbeat_ack(const uint8_t *b, size_t n, msg_heartbeat_ack_t *m)
{
    if (n != BODY_HEARTBEAT_ACK)
        return 0;
    m->echo_seq = b[0];
    return 1;
}

/* ---- streaming receiver ---- */
void proto_rx_init(proto_rx_t *rx) { memset(rx, 0, sizeof *rx); }

static int rx_finish(proto_rx_t *rx)
{
    uint8_t raw[PROTO_MAX_DECODED];
    size_t n = cobs_decode(rx->buf, rx->len, raw, sizeof raw);
    if (n < 4) {
        rx->framing_errors++;
        return 0;
    }
    uint16_t crc = (uint16_t)(raw[n - 2] | ((uint16_t)raw[n - 1] << 8));
    if (proto_crc16(raw, n - 2) != crc) {
        rx->crc_errors++;
        return 0;
    }
    rx->seq = raw[0];
    rx->type = raw[1];
    rx->body_len = (uint8_t)(n - 4);
    memcpy(rx->body, raw + 2, rx->body_len);
    rx->frames_ok++;
    return 1;
}

int proto_rx_feed(proto_rx_t *rx, uint8_t byte)
{
    if (byte == 0) {
        int ok = 0;
        if (rx->overflow)
            rx->framing_errors++;
        else if (rx->len > 0)
            ok = rx_finish(rx);
        rx->len = 0;
        rx->overflow = 0;
        return ok;
    }
    if (rx->overflow)
        return 0;
    if (rx->len >= sizeof rx->buf) {
        rx->overflow = 1;
        return 0;
    }
    rx->buf[rx->len++] = byte;
    return 0;
}
