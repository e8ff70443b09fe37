/* The portable firmware core: session handling, the safety state machine and the replies.
 *
 * No AVR registers here: the hardware layer (main.c) feeds received bytes, RC pulse widths and
 * sensor readings in, and copies steer_us/esc_us to the servo timer. Host tests drive the same
 * code (firmware/tests/test_core.c). Times are milliseconds from a wrapping uint32 clock. */
#ifndef FASTRLAP_CORE_H
#define FASTRLAP_CORE_H

#include "calib.h"
#include "protocol.h"

#define FW_MAJOR 1
#define FW_MINOR 1
#define CMD_TIMEOUT_MS 250     /* the ESC gets a neutral pulse within this of the last COMMAND */
#define SERVO_FRAME_MS 20      /* core_step runs at the start of every servo frame */
/* The command watchdog's bound is about the ESC's wire, and a width can only change there at a
 * frame start: one chosen at a frame start is output from the next one (the timer double-
 * buffers it), and a pulse lasts up to 1.55 ms at neutral. So at each frame start the core keeps
 * driving only while the frame after next, the first one a later decision could still make
 * neutral, would end its pulse within CMD_TIMEOUT_MS of the last command: the ESC then sees
 * neutral 230-250 ms after it. (Checking "older than CMD_TIMEOUT_MS" instead let the neutral
 * pulse end 271-292 ms after the last command: up to one frame until the next check, one frame
 * of double-buffering, then the pulse itself.) */
#define CMD_DRIVE_MS (CMD_TIMEOUT_MS - 2 * SERVO_FRAME_MS - 2)
#define SESSION_TIMEOUT_MS 1000/* no valid frame for this long -> HELLO needed again */
#define RC_TIMEOUT_MS 100      /* an RC channel without a pulse for this long is lost */
#define RC_VALID_MIN_US 800
#define RC_VALID_MAX_US 2200
#define RC_NEUTRAL_US 1500
#define RC_SWITCH_ON_US 1700   /* mode channel above this: manual (TELEOP) */
#define RC_STICK_DEADBAND_US 100
#define RC_STICK_HOLD_MS 1000  /* stick activity keeps TELEOP this long after the last deflection */
#define TELEMETRY_HZ 50
/* A SET_CONFIG with persist is stored only when CONFIRM_CONFIG echoes it within this time, so one
 * stray or corrupted-yet-valid frame can never change what the car boots with. */
#define CONFIRM_WINDOW_MS 2000

enum { RC_STEER = 0, RC_THROTTLE = 1, RC_MODE = 2, RC_CHANNELS = 3 };

typedef struct {
    uint16_t width_us[RC_CHANNELS]; /* last measured pulse, 0 = never seen */
    uint32_t at_ms[RC_CHANNELS];    /* when it ended */
} rc_input_t;

typedef struct {
    uint32_t wheel_ticks, wheel_period_us;
    int16_t accel[3], gyro[3];
} sensors_t;

typedef struct {
    void (*send)(void *ctx, const uint8_t *wire, size_t len);
    int (*save_calib)(void *ctx, const calib_t *cal); /* returns 1 on success */
    void *ctx;
} core_io_t;

typedef struct {
    core_io_t io;
    proto_rx_t rx;
    calib_t cal;
    uint8_t caps, reset_flags;
    uint8_t tx_seq;
    uint8_t mode;
    uint16_t faults;
    uint8_t session;
    uint32_t last_frame_ms;
    uint8_t have_cmd;
    msg_command_t cmd;
    uint32_t cmd_ms;
    uint8_t ack_seq;
    uint8_t switch_manual; /* the mode switch's last valid reading (see evaluate) */
    uint8_t stick_seen;
    uint32_t last_stick_ms;
    uint8_t rc_ok;
    rc_input_t rc;
    sensors_t sensors;
    uint16_t steer_us, esc_us; /* outputs to apply */
    uint8_t pending;           /* a SET_CONFIG with persist awaits its CONFIRM_CONFIG */
    calib_t pending_cal;
    uint32_t pending_ms;
} core_t;

/* boot_faults: FAULT_* known at boot (EEPROM defaults, watchdog reset). caps: CAP_*. */
void core_init(core_t *c, const calib_t *cal, uint16_t boot_faults, uint8_t caps,
               uint8_t reset_flags, core_io_t io);
/* Feed one received byte; a completed valid frame is handled at once. */
void core_feed_byte(core_t *c, uint32_t now, uint8_t byte);
void core_handle_frame(core_t *c, uint32_t now, uint8_t seq, uint8_t type,
                       const uint8_t *body, uint8_t len);
/* Re-evaluate the safety state with fresh RC input and sensor readings; updates outputs. Call it
 * at the start of every servo frame, with `now` that frame's start. */
void core_step(core_t *c, uint32_t now, const rc_input_t *rc, const sensors_t *s);
void core_send_telemetry(core_t *c, uint32_t now);
/* Set a fault bit; a FAULT frame goes out when it was not already set. */
void core_raise_fault(core_t *c, uint32_t now, uint16_t bit);

#endif
