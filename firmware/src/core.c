#include "core.h"

#include <string.h>

static void send_frame(core_t *c, uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t wire[PROTO_MAX_WIRE];
    size_t n = proto_frame(c->tx_seq++, type, body, len, wire, sizeof wire);
    if (n)
        c->io.send(c->io.ctx, wire, n);
}

void core_raise_fault(core_t *c, uint32_t now, uint16_t bit)
{
    if (c->faults & bit)
        return;
    c->faults |= bit;
    msg_fault_t f = {.fault = bit, .uptime_ms = now};
    uint8_t body[BODY_FAULT];
    send_frame(c, MSG_FAULT, body, pack_fault(&f, body));
}

void core_init(core_t *c, const calib_t *cal, uint16_t boot_faults, uint8_t caps,
               uint8_t reset_flags, core_io_t io)
{
    memset(c, 0, sizeof *c);
    c->io = io;
    proto_rx_init(&c->rx);
    c->cal = *cal;
    c->caps = caps;
    c->reset_flags = reset_flags;
    /* No receiver pulses yet: RC_LOST is active from the start (no FAULT frame for it). */
    c->faults = boot_faults | FAULT_RC_LOST;
    c->mode = MODE_NEUTRAL;
    c->steer_us = cal->steer_center_us;
    c->esc_us = cal->esc_neutral_us;
}

static int rc_channel_valid(const rc_input_t *rc, uint8_t ch, uint32_t now)
{
    uint16_t w = rc->width_us[ch];
    return w >= RC_VALID_MIN_US && w <= RC_VALID_MAX_US &&
           (uint32_t)(now - rc->at_ms[ch]) <= RC_TIMEOUT_MS;
}

static int16_t rc_permille(uint16_t width_us)
{
    int32_t p = ((int32_t)width_us - RC_NEUTRAL_US) * 2; /* +-500 us = full scale */
    return (int16_t)(p > 1000 ? 1000 : p < -1000 ? -1000 : p);
}

static uint16_t abs_diff(uint16_t a, uint16_t b) { return a > b ? a - b : b - a; }

static void evaluate(core_t *c, uint32_t now)
{
    const rc_input_t *rc = &c->rc;
    const calib_t *cal = &c->cal;
    uint8_t rc_ok = rc_channel_valid(rc, RC_STEER, now) && rc_channel_valid(rc, RC_THROTTLE, now);
    /* The switch keeps its last valid reading while its channel is silent. A receiver's channels
     * stop one after another when the radio goes; read as "off", a manual switch whose pulses
     * stop a frame before the sticks' would hand the car back to the host for that frame, and
     * the radio loss that follows would then find the host, not the human, in charge: no
     * FAILSAFE. A receiver without a mode channel never reads manual. */
    if (rc_channel_valid(rc, RC_MODE, now))
        c->switch_manual = rc->width_us[RC_MODE] >= RC_SWITCH_ON_US;
    uint8_t manual_switch = c->switch_manual;

    if (rc_ok && (abs_diff(rc->width_us[RC_STEER], RC_NEUTRAL_US) > RC_STICK_DEADBAND_US ||
                  abs_diff(rc->width_us[RC_THROTTLE], RC_NEUTRAL_US) > RC_STICK_DEADBAND_US)) {
        c->stick_seen = 1;
        c->last_stick_ms = now;
    }
    uint8_t sticks = rc_ok && c->stick_seen && (uint32_t)(now - c->last_stick_ms) < RC_STICK_HOLD_MS;
    uint8_t want_manual = manual_switch || sticks;

    if (rc_ok)
        c->faults &= (uint16_t)~FAULT_RC_LOST;
    else if (c->rc_ok)
        core_raise_fault(c, now, FAULT_RC_LOST);
    c->rc_ok = rc_ok;

    if (c->session && (uint32_t)(now - c->last_frame_ms) > SESSION_TIMEOUT_MS)
        c->session = 0;
    uint8_t cmd_fresh = c->session && c->have_cmd && (uint32_t)(now - c->cmd_ms) <= CMD_DRIVE_MS;

    uint8_t prev = c->mode, next;
    if ((want_manual || prev == MODE_TELEOP || prev == MODE_FAILSAFE) && !rc_ok)
        next = MODE_FAILSAFE; /* a human was (or wants to be) driving and the radio is gone */
    else if (want_manual)
        next = MODE_TELEOP;   /* RC override always wins over the host */
    else if (cmd_fresh && c->cmd.mode == CMD_MODE_DRIVE)
        next = MODE_AUTO;
    else
        next = MODE_NEUTRAL;

    if (prev == MODE_AUTO && next == MODE_NEUTRAL && c->have_cmd && !cmd_fresh)
        core_raise_fault(c, now, FAULT_CMD_TIMEOUT);
    c->mode = next;

    switch (next) {
    case MODE_TELEOP:
        /* Passthrough in the stick's own direction, bounded by the calibrated end points. */
        c->steer_us = calib_mix(rc_permille(rc->width_us[RC_STEER]), cal->steer_min_us,
                                cal->steer_center_us, cal->steer_max_us);
        c->esc_us = calib_mix(rc_permille(rc->width_us[RC_THROTTLE]), cal->esc_min_us,
                              cal->esc_neutral_us, cal->esc_max_us);
        break;
    case MODE_AUTO: {
        int16_t thr = c->cmd.throttle, steer = c->cmd.steer;
        int16_t lim = (int16_t)cal->throttle_limit;
        thr = thr > lim ? lim : thr < -lim ? (int16_t)-lim : thr;
        if (cal->flags & CAL_REVERSE_THROTTLE)
            thr = (int16_t)-thr;
        if (cal->flags & CAL_REVERSE_STEER)
            steer = (int16_t)-steer;
        c->steer_us = calib_mix(steer, cal->steer_min_us, cal->steer_center_us, cal->steer_max_us);
        c->esc_us = calib_mix(thr, cal->esc_min_us, cal->esc_neutral_us, cal->esc_max_us);
        break;
    }
    case MODE_FAILSAFE:
        c->steer_us = cal->steer_center_us;
        c->esc_us = cal->esc_neutral_us;
        break;
    default: /* NEUTRAL: throttle neutral, steering held where it was */
        c->esc_us = cal->esc_neutral_us;
        break;
    }
}

void core_step(core_t *c, uint32_t now, const rc_input_t *rc, const sensors_t *s)
{
    c->rc = *rc;
    c->sensors = *s;
    evaluate(c, now);
}

void core_send_telemetry(core_t *c, uint32_t now)
{
    msg_telemetry_t t;
    uint8_t body[BODY_TELEMETRY];
    memset(&t, 0, sizeof t);
    t.uptime_ms = now;
    t.ack_seq = c->ack_seq;
    t.mode = c->mode;
    t.faults = c->faults;
    t.flags = (uint8_t)((c->caps & CAP_IMU ? TFLAG_IMU_PRESENT : 0) |
                        (c->session ? TFLAG_SESSION : 0) | (c->rc_ok ? TFLAG_RC_VALID : 0));
    t.steer_us = c->steer_us;
    t.esc_us = c->esc_us;
    for (uint8_t ch = 0; ch < RC_CHANNELS; ch++) {
        uint16_t w = rc_channel_valid(&c->rc, ch, now) ? c->rc.width_us[ch] : 0;
        if (ch == RC_STEER)
            t.rc_steer_us = w;
        else if (ch == RC_THROTTLE)
            t.rc_throttle_us = w;
        else
            t.rc_mode_us = w;
    }
    t.wheel_ticks = c->sensors.wheel_ticks;
    t.wheel_period_us = c->sensors.wheel_period_us;
    memcpy(t.accel, c->sensors.accel, sizeof t.accel);
    memcpy(t.gyro, c->sensors.gyro, sizeof t.gyro);
    t.rx_bad_frames = (uint16_t)(c->rx.crc_errors + c->rx.framing_errors);
    send_frame(c, MSG_TELEMETRY, body, pack_telemetry(&t, body));
}

/* CONFIG_OK if the host may change the calibration now, else why not. Only the host that holds
 * the session, and only while it (not the transmitter) owns the outputs: a calibration arriving
 * during RC override would move the pulses under the human's hands. The mode is re-evaluated
 * first, so an override that began since the last servo frame counts. */
static uint8_t config_lock(core_t *c, uint32_t now)
{
    evaluate(c, now);
    if (!c->session)
        return CONFIG_NO_SESSION;
    if (c->mode == MODE_TELEOP || c->mode == MODE_FAILSAFE)
        return CONFIG_RC_OVERRIDE;
    return CONFIG_OK;
}

static void send_config(core_t *c, uint8_t status)
{
    msg_config_t m = {.status = status, .cal = c->cal};
    uint8_t body[BODY_CONFIG];
    send_frame(c, MSG_CONFIG, body, pack_config(&m, body));
}

void core_handle_frame(core_t *c, uint32_t now, uint8_t seq, uint8_t type,
                       const uint8_t *body, uint8_t len)
{
    switch (type) {
    case MSG_HELLO: {
        msg_hello_t h;
        if (!unpack_hello(body, len, &h))
            return;
        c->session = h.version == PROTO_VERSION;
        c->last_frame_ms = now;
        c->have_cmd = 0;
        c->faults &= (uint16_t)~FAULT_RX_OVERFLOW; /* a new session starts with a clean stream */
        c->pending = 0;                            /* and confirms only what it set itself */
        if (c->session && c->mode == MODE_FAILSAFE) {
            c->mode = MODE_NEUTRAL; /* an explicit re-arm by the host: */
            c->switch_manual = 0;   /* the silent switch no longer counts as manual */
        }
        msg_hello_ack_t a = {.version = PROTO_VERSION, .fw_major = FW_MAJOR, .fw_minor = FW_MINOR,
                             .caps = c->caps, .cmd_timeout_ms = CMD_TIMEOUT_MS,
                             .telemetry_hz = TELEMETRY_HZ, .reset_flags = c->reset_flags};
        uint8_t out[BODY_HELLO_ACK];
        send_frame(c, MSG_HELLO_ACK, out, pack_hello_ack(&a, out));
        return;
    }
    case MSG_COMMAND: {
        msg_command_t m;
        if (!c->session || !unpack_command(body, len, &m) || m.mode > CMD_MODE_DRIVE)
            return;
        c->last_frame_ms = now;
        c->cmd = m;
        c->cmd_ms = now;
        c->have_cmd = 1;
        c->ack_seq = seq;
        c->faults &= (uint16_t)~FAULT_CMD_TIMEOUT;
        evaluate(c, now);
        core_send_telemetry(c, now); /* the reply: the outputs this command produced */
        return;
    }
    case MSG_HEARTBEAT: {
        if (len != BODY_HEARTBEAT)
            return;
        if (c->session)
            c->last_frame_ms = now;
        msg_heartbeat_ack_t a = {.echo_seq = seq};
        uint8_t out[BODY_HEARTBEAT_ACK];
        send_frame(c, MSG_HEARTBEAT_ACK, out, pack_heartbeat_ack(&a, out));
        return;
    }
    case MSG_SET_CONFIG: {
        msg_set_config_t m;
        if (!unpack_set_config(body, len, &m))
            return;
        uint8_t status = config_lock(c, now);
        if (status == CONFIG_OK)
            status = calib_check(&m.cal);
        c->pending = 0; /* whatever was staged is replaced or, on a refusal, dropped */
        if (status == CONFIG_OK) {
            c->cal = m.cal;
            if (m.persist) {
                c->pending = 1;
                c->pending_cal = m.cal;
                c->pending_ms = now;
                status = CONFIG_PENDING;
            }
            evaluate(c, now);
        }
        send_config(c, status);
        return;
    }
    case MSG_CONFIRM_CONFIG: {
        calib_t echo;
        if (!unpack_calib(body, len, &echo))
            return;
        uint8_t status = config_lock(c, now);
        if (status == CONFIG_OK) {
            if (!c->pending || (uint32_t)(now - c->pending_ms) > CONFIRM_WINDOW_MS ||
                !calib_equal(&echo, &c->pending_cal))
                status = CONFIG_NOT_PENDING;
            else if (c->io.save_calib(c->io.ctx, &c->pending_cal))
                status = CONFIG_STORED;
            else
                status = CONFIG_STORE_FAILED;
        }
        if (status == CONFIG_STORED)
            c->faults &= (uint16_t)~FAULT_EEPROM_DEFAULTS;
        c->pending = 0; /* one confirmation per SET_CONFIG, whatever its outcome */
        send_config(c, status);
        return;
    }
    case MSG_GET_CONFIG:
        if (len == BODY_GET_CONFIG)
            send_config(c, CONFIG_OK);
        return;
    default:
        return; /* unknown types are ignored: a newer host may send more */
    }
}

void core_feed_byte(core_t *c, uint32_t now, uint8_t byte)
{
    if (proto_rx_feed(&c->rx, byte))
        core_handle_frame(c, now, c->rx.seq, c->rx.type, c->rx.body, c->rx.body_len);
}
