/* Host unit tests of the portable firmware core (protocol codec, calibration, safety state
 * machine), built with the host gcc and run by tests/unit/test_firmware_core.py.
 * Usage: test_core <path to firmware/test_vectors.txt> */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/calib.h"
#include "../src/core.h"
#include "../src/protocol.h"

static int failures, checks;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* ---------------------------------------------------------------- shared test vectors */

static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    if (n > cap || strlen(hex) % 2)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return (size_t)-1;
        out[i] = (uint8_t)v;
    }
    return n;
}

typedef union {
    msg_hello_t hello;
    msg_command_t command;
    msg_set_config_t set_config;
    calib_t confirm_config;
    msg_config_t config;
    msg_hello_ack_t hello_ack;
    msg_telemetry_t telemetry;
    msg_heartbeat_ack_t heartbeat_ack;
    msg_fault_t fault;
} any_msg_t;

typedef struct {
    const char *msg, *key;
    size_t off;
    uint8_t size, count;
} field_t;

#define FLD(m, type, member, key) {m, key, offsetof(type, member), sizeof(((type *)0)->member), 1}
#define ARR(m, type, member, key, n) {m, key, offsetof(type, member), sizeof(((type *)0)->member) / n, n}
#define CAL(m, type, prefix)                                                        \
    FLD(m, type, prefix.steer_min_us, "steer_min_us"),                              \
    FLD(m, type, prefix.steer_center_us, "steer_center_us"),                        \
    FLD(m, type, prefix.steer_max_us, "steer_max_us"),                              \
    FLD(m, type, prefix.esc_min_us, "esc_min_us"),                                  \
    FLD(m, type, prefix.esc_neutral_us, "esc_neutral_us"),                          \
    FLD(m, type, prefix.esc_max_us, "esc_max_us"),                                  \
    FLD(m, type, prefix.throttle_limit, "throttle_limit"), FLD(m, type, prefix.flags, "flags")

static const field_t FIELDS[] = {
    FLD("hello", msg_hello_t, version, "version"),
    FLD("command", msg_command_t, throttle, "throttle"),
    FLD("command", msg_command_t, steer, "steer"),
    FLD("command", msg_command_t, mode, "mode"),
    CAL("set_config", msg_set_config_t, cal),
    FLD("set_config", msg_set_config_t, persist, "persist"),
    FLD("confirm_config", calib_t, steer_min_us, "steer_min_us"),
    FLD("confirm_config", calib_t, steer_center_us, "steer_center_us"),
    FLD("confirm_config", calib_t, steer_max_us, "steer_max_us"),
    FLD("confirm_config", calib_t, esc_min_us, "esc_min_us"),
    FLD("confirm_config", calib_t, esc_neutral_us, "esc_neutral_us"),
    FLD("confirm_config", calib_t, esc_max_us, "esc_max_us"),
    FLD("confirm_config", calib_t, throttle_limit, "throttle_limit"),
    FLD("confirm_config", calib_t, flags, "flags"),
    FLD("config", msg_config_t, status, "status"),
    CAL("config", msg_config_t, cal),
    FLD("hello_ack", msg_hello_ack_t, version, "version"),
    FLD("hello_ack", msg_hello_ack_t, fw_major, "fw_major"),
    FLD("hello_ack", msg_hello_ack_t, fw_minor, "fw_minor"),
    FLD("hello_ack", msg_hello_ack_t, caps, "caps"),
    FLD("hello_ack", msg_hello_ack_t, cmd_timeout_ms, "cmd_timeout_ms"),
    FLD("hello_ack", msg_hello_ack_t, telemetry_hz, "telemetry_hz"),
    FLD("hello_ack", msg_hello_ack_t, reset_flags, "reset_flags"),
    FLD("telemetry", msg_telemetry_t, uptime_ms, "uptime_ms"),
    FLD("telemetry", msg_telemetry_t, ack_seq, "ack_seq"),
    FLD("telemetry", msg_telemetry_t, mode, "mode"),
    FLD("telemetry", msg_telemetry_t, faults, "faults"),
    FLD("telemetry", msg_telemetry_t, flags, "flags"),
    FLD("telemetry", msg_telemetry_t, steer_us, "steer_us"),
    FLD("telemetry", msg_telemetry_t, esc_us, "esc_us"),
    FLD("telemetry", msg_telemetry_t, rc_steer_us, "rc_steer_us"),
    FLD("telemetry", msg_telemetry_t, rc_throttle_us, "rc_throttle_us"),
    FLD("telemetry", msg_telemetry_t, rc_mode_us, "rc_mode_us"),
    FLD("telemetry", msg_telemetry_t, wheel_ticks, "wheel_ticks"),
    FLD("telemetry", msg_telemetry_t, wheel_period_us, "wheel_period_us"),
    ARR("telemetry", msg_telemetry_t, accel, "accel", 3),
    ARR("telemetry", msg_telemetry_t, gyro, "gyro", 3),
    FLD("telemetry", msg_telemetry_t, rx_bad_frames, "rx_bad_frames"),
    FLD("heartbeat_ack", msg_heartbeat_ack_t, echo_seq, "echo_seq"),
    FLD("fault", msg_fault_t, fault, "fault"),
    FLD("fault", msg_fault_t, uptime_ms, "uptime_ms"),
};

static void store(uint8_t *dst, uint8_t size, long v)
{
    if (size == 1) { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); }
    else if (size == 2) { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); }
    else { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); }
}

static int set_field(const char *msg, any_msg_t *m, const char *key, char *val)
{
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const field_t *f = &FIELDS[i];
        if (strcmp(f->msg, msg) || strcmp(f->key, key))
            continue;
        char *tok = val;
        for (uint8_t k = 0; k < f->count; k++) {
            char *end;
            long v = strtol(tok, &end, 10);
            if (end == tok)
                return 0;
            store((uint8_t *)m + f->off + (size_t)k * f->size, f->size, v);
            tok = *end == ',' ? end + 1 : end;
        }
        return 1;
    }
    return 0;
}

/* type byte and body for a named message; 0 if the name is unknown */
static int pack_named(const char *name, const any_msg_t *m, uint8_t *type, uint8_t *body, size_t *len)
{
    if (!strcmp(name, "hello")) { *type = MSG_HELLO; *len = pack_hello(&m->hello, body); }
    else if (!strcmp(name, "command")) { *type = MSG_COMMAND; *len = pack_command(&m->command, body); }
    else if (!strcmp(name, "heartbeat")) { *type = MSG_HEARTBEAT; *len = 0; }
    else if (!strcmp(name, "set_config")) { *type = MSG_SET_CONFIG; *len = pack_set_config(&m->set_config, body); }
    else if (!strcmp(name, "get_config")) { *type = MSG_GET_CONFIG; *len = 0; }
    else if (!strcmp(name, "confirm_config")) { *type = MSG_CONFIRM_CONFIG; *len = pack_calib(&m->confirm_config, body); }
    else if (!strcmp(name, "hello_ack")) { *type = MSG_HELLO_ACK; *len = pack_hello_ack(&m->hello_ack, body); }
    else if (!strcmp(name, "telemetry")) { *type = MSG_TELEMETRY; *len = pack_telemetry(&m->telemetry, body); }
    else if (!strcmp(name, "heartbeat_ack")) { *type = MSG_HEARTBEAT_ACK; *len = pack_heartbeat_ack(&m->heartbeat_ack, body); }
    else if (!strcmp(name, "config")) { *type = MSG_CONFIG; *len = pack_config(&m->config, body); }
    else if (!strcmp(name, "fault")) { *type = MSG_FAULT; *len = pack_fault(&m->fault, body); }
    else return 0;
    return 1;
}

/* unpack then pack again: the body must survive unchanged */
static int roundtrip(uint8_t type, const uint8_t *body, size_t n)
{
    any_msg_t m;
    uint8_t again[PROTO_MAX_BODY];
    size_t k;
    switch (type) {
    case MSG_HELLO: if (!unpack_hello(body, n, &m.hello)) return 0; k = pack_hello(&m.hello, again); break;
    case MSG_COMMAND: if (!unpack_command(body, n, &m.command)) return 0; k = pack_command(&m.command, again); break;
    case MSG_HEARTBEAT: case MSG_GET_CONFIG: return n == 0;
    case MSG_SET_CONFIG: if (!unpack_set_config(body, n, &m.set_config)) return 0; k = pack_set_config(&m.set_config, again); break;
    case MSG_CONFIRM_CONFIG: if (!unpack_calib(body, n, &m.confirm_config)) return 0; k = pack_calib(&m.confirm_config, again); break;
    case MSG_HELLO_ACK: if (!unpack_hello_ack(body, n, &m.hello_ack)) return 0; k = pack_hello_ack(&m.hello_ack, again); break;
    case MSG_TELEMETRY: if (!unpack_telemetry(body, n, &m.telemetry)) return 0; k = pack_telemetry(&m.telemetry, again); break;
    case MSG_HEARTBEAT_ACK: if (!unpack_heartbeat_ack(body, n, &m.heartbeat_ack)) return 0; k = pack_heartbeat_ack(&m.heartbeat_ack, again); break;
    case MSG_CONFIG: if (!unpack_config(body, n, &m.config)) return 0; k = pack_config(&m.config, again); break;
    case MSG_FAULT: if (!unpack_fault(body, n, &m.fault)) return 0; k = pack_fault(&m.fault, again); break;
    default: return 0;
    }
    return k == n && memcmp(again, body, n) == 0;
}

static void check_frame_line(char *line, int lineno)
{
    char *save, *tok = strtok_r(line, " \n", &save);
    const char *name = strtok_r(NULL, " \n", &save);
    any_msg_t m;
    long seq = -1;
    const char *wire_hex = NULL;
    memset(&m, 0, sizeof m);
    (void)tok;
    while ((tok = strtok_r(NULL, " \n", &save))) {
        if (!strcmp(tok, "->")) {
            wire_hex = strtok_r(NULL, " \n", &save);
            break;
        }
        char *eq = strchr(tok, '=');
        CHECK(eq != NULL, "line %d: bad token %s", lineno, tok);
        if (!eq)
            return;
        *eq = 0;
        if (!strcmp(tok, "seq"))
            seq = strtol(eq + 1, NULL, 10);
        else
            CHECK(set_field(name, &m, tok, eq + 1), "line %d: %s has no field %s", lineno, name, tok);
    }
    uint8_t expect[128], body[PROTO_MAX_BODY], wire[PROTO_MAX_WIRE], type;
    size_t body_len = 0, expect_len = wire_hex ? from_hex(wire_hex, expect, sizeof expect) : (size_t)-1;
    CHECK(seq >= 0 && expect_len != (size_t)-1, "line %d: malformed", lineno);
    CHECK(pack_named(name, &m, &type, body, &body_len), "line %d: unknown message %s", lineno, name);
    size_t n = proto_frame((uint8_t)seq, type, body, body_len, wire, sizeof wire);
    CHECK(n == expect_len && memcmp(wire, expect, n) == 0, "line %d: %s encodes differently", lineno, name);

    proto_rx_t rx;
    proto_rx_init(&rx);
    int got = 0;
    for (size_t i = 0; i < expect_len; i++)
        got += proto_rx_feed(&rx, expect[i]);
    CHECK(got == 1 && rx.seq == seq && rx.type == type, "line %d: %s does not decode", lineno, name);
    CHECK(rx.body_len == body_len && memcmp(rx.body, body, body_len) == 0, "line %d: body differs", lineno);
    CHECK(roundtrip(rx.type, rx.body, rx.body_len), "line %d: %s unpack/pack differs", lineno, name);
}

static int check_vectors(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open test vectors %s\n", path);
        return 0;
    }
    char line[4096];
    int lineno = 0, vectors = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        vectors++;
        char kind[16], a[1200], b[1200];
        uint8_t in[600], out[600], enc[700];
        if (!strncmp(line, "frame ", 6)) {
            check_frame_line(line, lineno);
        } else if (sscanf(line, "crc16 %1199s %1199s", a, b) == 2) {
            size_t n = from_hex(a, in, sizeof in);
            CHECK(proto_crc16(in, n) == (uint16_t)strtoul(b, NULL, 16), "line %d: crc", lineno);
        } else if (sscanf(line, "cobs %1199s %1199s", a, b) == 2) {
            size_t n = from_hex(a, in, sizeof in), m = from_hex(b, out, sizeof out);
            size_t e = cobs_encode(in, n, enc, sizeof enc);
            CHECK(e == m && memcmp(enc, out, m) == 0, "line %d: cobs encode", lineno);
            size_t d = cobs_decode(out, m, enc, sizeof enc);
            CHECK(d == n && memcmp(enc, in, n) == 0, "line %d: cobs decode", lineno);
        } else if (sscanf(line, "stream %1199s -> frames=%*d crc=%*d framing=%*d", a) == 1) {
            int frames, crc, framing;
            sscanf(strstr(line, "->"), "-> frames=%d crc=%d framing=%d", &frames, &crc, &framing);
            size_t n = from_hex(a, in, sizeof in);
            proto_rx_t rx;
            proto_rx_init(&rx);
            int got = 0;
            for (size_t i = 0; i < n; i++)
                got += proto_rx_feed(&rx, in[i]);
            CHECK(got == frames && rx.crc_errors == crc && rx.framing_errors == framing,
                  "line %d: stream gave frames=%d crc=%u framing=%u", lineno, got, rx.crc_errors,
                  rx.framing_errors);
        } else {
            (void)kind;
            CHECK(0, "line %d: unknown vector", lineno);
        }
    }
    fclose(f);
    printf("vectors: %d checked\n", vectors);
    return vectors;
}

/* ---------------------------------------------------------------- core behaviour */

typedef struct {
    proto_rx_t rx;
    int count[256];
    msg_telemetry_t last_tel;
    msg_config_t last_cfg;
    msg_fault_t last_fault;
    msg_hello_ack_t last_ack;
    uint8_t image[CAL_IMAGE_SIZE];
    int saves;
} fake_io_t;

static void fake_send(void *ctx, const uint8_t *wire, size_t len)
{
    fake_io_t *io = ctx;
    for (size_t i = 0; i < len; i++) {
        if (!proto_rx_feed(&io->rx, wire[i]))
            continue;
        io->count[io->rx.type]++;
        if (io->rx.type == MSG_TELEMETRY)
            unpack_telemetry(io->rx.body, io->rx.body_len, &io->last_tel);
        else if (io->rx.type == MSG_CONFIG)
            unpack_config(io->rx.body, io->rx.body_len, &io->last_cfg);
        else if (io->rx.type == MSG_FAULT)
            unpack_fault(io->rx.body, io->rx.body_len, &io->last_fault);
        else if (io->rx.type == MSG_HELLO_ACK)
            unpack_hello_ack(io->rx.body, io->rx.body_len, &io->last_ack);
    }
    CHECK(io->rx.len == 0, "core sent a frame without its delimiter");
}

static int fake_save(void *ctx, const calib_t *cal)
{
    fake_io_t *io = ctx;
    calib_to_image(cal, io->image);
    io->saves++;
    return 1;
}

static fake_io_t io;
static core_t core;
static rc_input_t rc;
static sensors_t sensors;

static void setup(uint32_t now)
{
    calib_t cal;
    calib_defaults(&cal);
    memset(&io, 0, sizeof io);
    proto_rx_init(&io.rx);
    memset(&rc, 0, sizeof rc);
    memset(&sensors, 0, sizeof sensors);
    core_init(&core, &cal, 0, 0, 0, (core_io_t){.send = fake_send, .save_calib = fake_save, .ctx = &io});
    core_step(&core, now, &rc, &sensors);
}

static void host_send(uint32_t now, uint8_t seq, uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t wire[PROTO_MAX_WIRE];
    size_t n = proto_frame(seq, type, body, len, wire, sizeof wire);
    for (size_t i = 0; i < n; i++)
        core_feed_byte(&core, now, wire[i]);
}

static void hello(uint32_t now, uint8_t version)
{
    msg_hello_t h = {.version = version};
    uint8_t b[BODY_HELLO];
    host_send(now, 0, MSG_HELLO, b, pack_hello(&h, b));
}

static void command(uint32_t now, uint8_t seq, int16_t thr, int16_t steer, uint8_t mode)
{
    msg_command_t c = {.throttle = thr, .steer = steer, .mode = mode};
    uint8_t b[BODY_COMMAND];
    host_send(now, seq, MSG_COMMAND, b, pack_command(&c, b));
}

static void set_rc(uint32_t now, uint16_t steer, uint16_t thr, uint16_t mode)
{
    rc.width_us[RC_STEER] = steer;
    rc.width_us[RC_THROTTLE] = thr;
    rc.width_us[RC_MODE] = mode;
    for (int ch = 0; ch < RC_CHANNELS; ch++)
        rc.at_ms[ch] = now;
    core_step(&core, now, &rc, &sensors);
}

static void test_session_and_command(uint32_t t0)
{
    setup(t0);
    command(t0 + 1, 1, 500, 0, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_NEUTRAL && core.esc_us == 1500, "command before HELLO must be ignored");
    CHECK(io.count[MSG_TELEMETRY] == 0, "no reply to an ignored command");
    hello(t0 + 2, PROTO_VERSION + 1);
    CHECK(io.count[MSG_HELLO_ACK] == 1 && io.last_ack.version == PROTO_VERSION, "HELLO_ACK carries our version");
    command(t0 + 3, 2, 500, 0, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_NEUTRAL, "a version mismatch opens no session");
    hello(t0 + 4, PROTO_VERSION);
    CHECK(io.last_ack.cmd_timeout_ms == CMD_TIMEOUT_MS && io.last_ack.telemetry_hz == TELEMETRY_HZ, "ack fields");
    command(t0 + 5, 9, 500, -1000, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_AUTO, "mode %u", core.mode);
    CHECK(core.esc_us == 1750 && core.steer_us == 1000, "outputs %u %u", core.esc_us, core.steer_us);
    CHECK(io.count[MSG_TELEMETRY] == 1 && io.last_tel.ack_seq == 9 && io.last_tel.esc_us == 1750,
          "a command is answered by telemetry with its seq");
    CHECK(io.last_tel.flags & TFLAG_SESSION, "session flag");
    command(t0 + 6, 10, 200, 300, CMD_MODE_NEUTRAL);
    CHECK(core.mode == MODE_NEUTRAL && core.esc_us == 1500 && core.steer_us == 1000,
          "CMD_MODE_NEUTRAL: throttle neutral, steering held (%u)", core.steer_us);
    command(t0 + 7, 11, 200, 300, 7);
    CHECK(io.last_tel.ack_seq == 10, "a command with an unknown mode is dropped");
}

static void test_watchdog(uint32_t t0)
{
    setup(t0);
    hello(t0, PROTO_VERSION);
    command(t0 + 10, 1, 400, 200, CMD_MODE_DRIVE);
    core_step(&core, t0 + 10 + CMD_DRIVE_MS, &rc, &sensors);
    CHECK(core.mode == MODE_AUTO && core.esc_us == 1700, "still driving at exactly the drive limit");
    core_step(&core, t0 + 11 + CMD_DRIVE_MS, &rc, &sensors);
    CHECK(core.mode == MODE_NEUTRAL && core.esc_us == 1500, "neutral after the timeout");
    CHECK(core.steer_us == 1600, "steering held at the last command (%u)", core.steer_us);
    CHECK((core.faults & FAULT_CMD_TIMEOUT) && io.count[MSG_FAULT] == 1 &&
          io.last_fault.fault == FAULT_CMD_TIMEOUT, "CMD_TIMEOUT reported once");
    core_step(&core, t0 + 400, &rc, &sensors);
    CHECK(io.count[MSG_FAULT] == 1, "no repeated FAULT frames");
    command(t0 + 500, 2, 100, 0, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_AUTO && !(core.faults & FAULT_CMD_TIMEOUT), "a new command clears it");
    /* heartbeats keep the session but never the throttle */
    for (uint32_t t = t0 + 600; t < t0 + 2000; t += 100) {
        host_send(t, 3, MSG_HEARTBEAT, NULL, 0);
        core_step(&core, t, &rc, &sensors);
    }
    CHECK(core.mode == MODE_NEUTRAL && io.count[MSG_HEARTBEAT_ACK] == 14, "heartbeat acks %d", io.count[MSG_HEARTBEAT_ACK]);
    CHECK(core.session, "heartbeats keep the session open");
    core_step(&core, t0 + 1900 + SESSION_TIMEOUT_MS + 1, &rc, &sensors);
    CHECK(!core.session, "the session closes after silence");
}

/* As the chip runs it: core_step at every frame start; a width chosen there is output from the
 * next frame start. Whatever the command's phase within the frame, the first neutral pulse must
 * end 230-250 ms after the command. */
static void test_watchdog_bound_on_the_wire(uint32_t t0)
{
    for (uint32_t phase = 0; phase < SERVO_FRAME_MS; phase++) {
        setup(t0);
        hello(t0, PROTO_VERSION);
        uint32_t cmd_at = t0 + 2 * SERVO_FRAME_MS + phase;
        command(cmd_at, 1, 400, 0, CMD_MODE_DRIVE);
        uint32_t frame = t0 + 3 * SERVO_FRAME_MS, end_us = 0;
        for (; (int32_t)(frame - cmd_at) < 400; frame += SERVO_FRAME_MS) {
            core_step(&core, frame, &rc, &sensors);
            if (core.esc_us == core.cal.esc_neutral_us) {
                /* output from the next frame start, for esc_neutral_us */
                end_us = (frame + SERVO_FRAME_MS - cmd_at) * 1000u + core.cal.esc_neutral_us;
                break;
            }
        }
        CHECK(end_us >= 230000 && end_us <= 250000, "phase %u: neutral pulse ends %u us after the command",
              phase, end_us);
    }
}

static void test_rc_override(uint32_t t0)
{
    setup(t0);
    hello(t0, PROTO_VERSION);
    set_rc(t0, 1500, 1500, 1000);
    command(t0 + 1, 1, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_AUTO, "centred sticks, switch off: host drives");
    set_rc(t0 + 20, 1800, 1600, 2000);
    command(t0 + 20, 2, -300, -300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_TELEOP && io.last_tel.mode == MODE_TELEOP, "mode switch -> TELEOP");
    CHECK(core.steer_us == 1800 && core.esc_us == 1600, "passthrough %u %u", core.steer_us, core.esc_us);
    CHECK(io.last_tel.rc_steer_us == 1800 && io.last_tel.rc_mode_us == 2000, "RC inputs reported");
    /* stick activity without the switch */
    set_rc(t0 + 40, 1500, 1300, 1000);
    command(t0 + 40, 3, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_TELEOP && core.esc_us == 1300, "stick deflection -> TELEOP");
    set_rc(t0 + 60, 1500, 1500, 1000);
    command(t0 + 60, 4, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_TELEOP && core.esc_us == 1500, "TELEOP held after the stick returns");
    set_rc(t0 + 40 + RC_STICK_HOLD_MS, 1500, 1500, 1000);
    command(t0 + 40 + RC_STICK_HOLD_MS, 5, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_AUTO && core.esc_us == 1650, "host regains control after the hold");
    /* radio lost while the human drives */
    set_rc(t0 + 1100, 1500, 1800, 2000);
    core_step(&core, t0 + 1100, &rc, &sensors);
    CHECK(core.mode == MODE_TELEOP && core.esc_us == 1800, "teleop again");
    core_step(&core, t0 + 1100 + RC_TIMEOUT_MS + 1, &rc, &sensors);
    CHECK(core.mode == MODE_FAILSAFE && core.esc_us == 1500 && core.steer_us == 1500, "RC lost -> FAILSAFE");
    CHECK(io.last_fault.fault == FAULT_RC_LOST, "RC_LOST reported");
    command(t0 + 1250, 6, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_FAILSAFE, "host commands cannot leave FAILSAFE");
    hello(t0 + 1260, PROTO_VERSION);
    command(t0 + 1270, 7, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_AUTO, "HELLO re-arms after FAILSAFE (mode %u)", core.mode);
    /* the radio goes while the switch alone holds manual: the switch's channel stops a frame
     * before the sticks' (as a receiver's channels stop one by one) */
    setup(t0 + 2000);
    hello(t0 + 2000, PROTO_VERSION);
    set_rc(t0 + 2000, 1500, 1500, 2000);
    command(t0 + 2001, 8, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_TELEOP, "switch on manual, sticks centred");
    rc.at_ms[RC_STEER] = rc.at_ms[RC_THROTTLE] = t0 + 2020; /* the sticks pulse once more */
    core_step(&core, t0 + 2020 + RC_TIMEOUT_MS - 10, &rc, &sensors);
    command(t0 + 2020 + RC_TIMEOUT_MS - 9, 9, 300, 300, CMD_MODE_DRIVE);
    CHECK(core.mode == MODE_TELEOP && core.esc_us == 1500, "a silent switch is not a switch flipped to auto (%u)",
          core.mode);
    core_step(&core, t0 + 2020 + RC_TIMEOUT_MS + 1, &rc, &sensors);
    CHECK(core.mode == MODE_FAILSAFE, "then the sticks go too: FAILSAFE (mode %u)", core.mode);
    /* out-of-range pulses count as lost */
    set_rc(t0 + 1300, 1500, 2500, 2000);
    core_step(&core, t0 + 1300, &rc, &sensors);
    CHECK(!core.rc_ok, "a 2500 us pulse is not a valid RC signal");
}

static void set_config(uint32_t now, uint8_t seq, const calib_t *cal, uint8_t persist)
{
    msg_set_config_t m = {.cal = *cal, .persist = persist};
    uint8_t b[BODY_SET_CONFIG];
    host_send(now, seq, MSG_SET_CONFIG, b, pack_set_config(&m, b));
}

static void confirm_config(uint32_t now, uint8_t seq, const calib_t *echo)
{
    uint8_t b[BODY_CONFIRM_CONFIG];
    host_send(now, seq, MSG_CONFIRM_CONFIG, b, pack_calib(echo, b));
}

/* HEARTBEATs every 300 ms over [from, to): the session stays open, nothing else happens. */
static void keep_session(uint32_t from, uint32_t to)
{
    for (uint32_t t = from; (int32_t)(to - t) > 0; t += 300)
        host_send(t, 0, MSG_HEARTBEAT, NULL, 0);
}

static void test_calibration(uint32_t t0)
{
    setup(t0);
    hello(t0, PROTO_VERSION);
    calib_t cal;
    calib_defaults(&cal);
    cal.steer_min_us = 1600; /* min above centre: invalid */
    set_config(t0 + 1, 1, &cal, 1);
    CHECK(io.last_cfg.status == CONFIG_INVALID && io.last_cfg.cal.steer_min_us == 1000 && io.saves == 0,
          "invalid calibration rejected");
    cal = (calib_t){1100, 1450, 1900, 1200, 1520, 1800, 500, CAL_REVERSE_STEER};
    set_config(t0 + 2, 2, &cal, 1);
    CHECK(io.last_cfg.status == CONFIG_PENDING && io.saves == 0, "persist waits for the confirmation");
    confirm_config(t0 + 3, 3, &cal);
    CHECK(io.last_cfg.status == CONFIG_STORED && io.saves == 1, "confirmed calibration stored");
    calib_t back;
    CHECK(calib_from_image(io.image, &back) && back.steer_center_us == 1450 && back.esc_max_us == 1800,
          "EEPROM image round trip");
    io.image[3] ^= 1;
    CHECK(!calib_from_image(io.image, &back), "a corrupted image is rejected");
    command(t0 + 3, 3, 1000, 1000, CMD_MODE_DRIVE);
    /* throttle capped at 500 permille: 1520 + 280*0.5 = 1660; steer reversed: -1000 -> 1100 */
    CHECK(core.esc_us == 1660 && core.steer_us == 1100, "limits/reverse %u %u", core.esc_us, core.steer_us);
    command(t0 + 4, 4, -1000, 0, CMD_MODE_DRIVE);
    CHECK(core.esc_us == 1360 && core.steer_us == 1450, "reverse side %u %u", core.esc_us, core.steer_us);
    host_send(t0 + 5, 5, MSG_GET_CONFIG, NULL, 0);
    CHECK(io.count[MSG_CONFIG] == 4 && io.last_cfg.cal.throttle_limit == 500, "GET_CONFIG");
    CHECK(calib_mix(333, 1000, 1500, 2000) == 1667 && calib_mix(-333, 1000, 1500, 2000) == 1333,
          "rounding %u %u", calib_mix(333, 1000, 1500, 2000), calib_mix(-333, 1000, 1500, 2000));
    CHECK(calib_mix(5000, 1000, 1500, 2000) == 2000 && calib_mix(-5000, 1000, 1500, 2000) == 1000, "clamp");
    uint8_t blank[CAL_IMAGE_SIZE];
    memset(blank, 0xFF, sizeof blank); /* an erased EEPROM */
    CHECK(!calib_from_image(blank, &back), "erased EEPROM gives no calibration");
    calib_t hot = cal;
    hot.esc_neutral_us = 1700;
    uint8_t img[CAL_IMAGE_SIZE];
    calib_to_image(&hot, img); /* well formed, checksum right, neutral out of band */
    CHECK(!calib_from_image(img, &back), "a stored neutral outside the band is not used at boot");
}

/* The calibration moves what "neutral" means: only the session's host, in host mode, within the
 * safe band, and stored only on a timely confirmation that echoes it. */
static void test_config_lock(uint32_t t0)
{
    setup(t0);
    calib_t def, cal = {1100, 1480, 1900, 1200, 1510, 1800, 600, 0};
    calib_defaults(&def);
    set_config(t0 + 1, 1, &cal, 1);
    CHECK(io.last_cfg.status == CONFIG_NO_SESSION && calib_equal(&core.cal, &def), "no session: refused");
    confirm_config(t0 + 2, 2, &cal);
    CHECK(io.last_cfg.status == CONFIG_NO_SESSION && io.saves == 0, "no session: nothing stored");
    hello(t0 + 3, PROTO_VERSION);
    set_rc(t0 + 3, 1500, 1500, 2000); /* the mode switch on manual */
    set_config(t0 + 4, 3, &cal, 0);
    CHECK(io.last_cfg.status == CONFIG_RC_OVERRIDE && calib_equal(&core.cal, &def), "TELEOP: refused");
    CHECK(io.last_cfg.cal.esc_neutral_us == 1500, "the reply carries the calibration still in use");
    set_rc(t0 + 5, 1500, 1500, 1000);
    set_rc(t0 + 6, 1700, 1500, 1000); /* switch off but a stick moved: still the human's */
    set_config(t0 + 6, 4, &cal, 0);
    CHECK(io.last_cfg.status == CONFIG_RC_OVERRIDE, "stick override: refused");
    core_step(&core, t0 + 6 + RC_TIMEOUT_MS + 1, &rc, &sensors); /* radio gone mid-override */
    CHECK(core.mode == MODE_FAILSAFE, "failsafe (mode %u)", core.mode);
    set_config(t0 + 7 + RC_TIMEOUT_MS, 5, &cal, 0);
    CHECK(io.last_cfg.status == CONFIG_RC_OVERRIDE && calib_equal(&core.cal, &def), "FAILSAFE: refused");
    hello(t0 + 200, PROTO_VERSION); /* re-arm */
    calib_t bad[4] = {cal, cal, cal, cal};
    bad[0].esc_neutral_us = 1700; /* ~40 % throttle whenever the car stops */
    bad[0].esc_max_us = 1900;
    bad[1].steer_center_us = 1449;
    bad[2].esc_max_us = 2300;
    bad[3].throttle_limit = 1001;
    const uint8_t why[4] = {CONFIG_CENTRE_OUT_OF_BAND, CONFIG_CENTRE_OUT_OF_BAND, CONFIG_INVALID, CONFIG_INVALID};
    for (uint8_t k = 0; k < 4; k++) {
        set_config(t0 + 201 + k, (uint8_t)(6 + k), &bad[k], 1);
        CHECK(io.last_cfg.status == why[k] && calib_equal(&core.cal, &def) && !core.pending,
              "out-of-band calibration %u refused (status %u)", k, io.last_cfg.status);
    }
    /* in band, host mode: applied at once, stored only on confirmation */
    set_config(t0 + 210, 10, &cal, 0);
    CHECK(io.last_cfg.status == CONFIG_OK && calib_equal(&core.cal, &cal) && io.saves == 0, "applied, not stored");
    confirm_config(t0 + 211, 11, &cal);
    CHECK(io.last_cfg.status == CONFIG_NOT_PENDING && io.saves == 0, "nothing staged without persist");
    set_config(t0 + 220, 12, &cal, 1);
    CHECK(io.last_cfg.status == CONFIG_PENDING && io.saves == 0, "staged");
    calib_t other = cal;
    other.throttle_limit = 700;
    confirm_config(t0 + 221, 13, &other);
    CHECK(io.last_cfg.status == CONFIG_NOT_PENDING && io.saves == 0, "an echo that differs stores nothing");
    confirm_config(t0 + 222, 14, &cal);
    CHECK(io.last_cfg.status == CONFIG_NOT_PENDING && io.saves == 0, "a failed confirmation ends the staging");
    set_config(t0 + 230, 15, &cal, 1);
    keep_session(t0 + 231, t0 + 231 + CONFIRM_WINDOW_MS);
    confirm_config(t0 + 231 + CONFIRM_WINDOW_MS, 16, &cal);
    CHECK(io.last_cfg.status == CONFIG_NOT_PENDING && io.saves == 0, "a late confirmation stores nothing");
    set_config(t0 + 240, 17, &cal, 1);
    hello(t0 + 241, PROTO_VERSION);
    confirm_config(t0 + 242, 18, &cal);
    CHECK(io.last_cfg.status == CONFIG_NOT_PENDING && io.saves == 0, "a new session cannot confirm the old one's");
    set_config(t0 + 250, 19, &cal, 1);
    set_rc(t0 + 251, 1500, 1500, 2000);
    confirm_config(t0 + 252, 20, &cal);
    CHECK(io.last_cfg.status == CONFIG_RC_OVERRIDE && io.saves == 0, "no storing during RC override");
    set_rc(t0 + 1100, 1500, 1500, 1000); /* switch off, the stick hold from t0 + 6 long over */
    set_config(t0 + 1110, 21, &cal, 1);
    keep_session(t0 + 1111, t0 + 1110 + CONFIRM_WINDOW_MS);
    confirm_config(t0 + 1110 + CONFIRM_WINDOW_MS, 22, &cal);
    CHECK(io.last_cfg.status == CONFIG_STORED && io.saves == 1, "confirmed in time: stored (%u, %d)", io.last_cfg.status, io.saves);
    calib_t back;
    CHECK(calib_from_image(io.image, &back) && calib_equal(&back, &cal), "what was confirmed is what is stored");
}

static void test_garbage(uint32_t t0)
{
    setup(t0);
    hello(t0, PROTO_VERSION);
    command(t0 + 1, 1, 200, 100, CMD_MODE_DRIVE);
    uint16_t esc = core.esc_us, steer = core.steer_us;
    uint32_t state = 12345;
    for (int i = 0; i < 20000; i++) {
        state = state * 1103515245u + 12345u;
        core_feed_byte(&core, t0 + 2, (uint8_t)(state >> 16));
    }
    CHECK(core.esc_us == esc && core.steer_us == steer && core.cmd.throttle == 200,
          "random bytes changed nothing (%u %u)", core.esc_us, core.steer_us);
    CHECK(core.rx.crc_errors + core.rx.framing_errors > 0, "garbage was counted");
    core_feed_byte(&core, t0 + 2, 0);
    command(t0 + 3, 2, -200, 0, CMD_MODE_DRIVE);
    CHECK(core.cmd.throttle == -200 && core.esc_us == 1400, "resynchronised after garbage");
    core_raise_fault(&core, t0 + 4, FAULT_RX_OVERFLOW);
    CHECK(io.last_fault.fault == FAULT_RX_OVERFLOW && (core.faults & FAULT_RX_OVERFLOW), "overflow reported");
    hello(t0 + 5, PROTO_VERSION);
    CHECK(!(core.faults & FAULT_RX_OVERFLOW), "a new session clears RX_OVERFLOW");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s firmware/test_vectors.txt\n", argv[0]);
        return 2;
    }
    int vectors = check_vectors(argv[1]);
    CHECK(vectors > 20, "only %d vectors", vectors);
    /* Every behaviour test also runs just before the millisecond clock wraps. */
    uint32_t origins[] = {1000u, 0xFFFFFF00u};
    for (int i = 0; i < 2; i++) {
        test_session_and_command(origins[i]);
        test_watchdog(origins[i]);
        test_watchdog_bound_on_the_wire(origins[i]);
        test_rc_override(origins[i]);
        test_calibration(origins[i]);
        test_config_lock(origins[i]);
        test_garbage(origins[i]);
    }
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
