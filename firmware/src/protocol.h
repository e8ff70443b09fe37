/* Wire format shared with fastrlap/vehicle/protocol.py; docs/protocol.md is the spec.
 *
 * Frame on the wire: 0x00, COBS(seq, type, body..., crc_lo, crc_hi), 0x00. The leading delimiter
 * ends whatever line noise came before, so noise costs at most itself and never the next frame.
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over seq, type
 * and body. Every multi-byte field is little-endian. Packing is done byte by byte, never by
 * casting structs, so the layout does not depend on the compiler (AVR or host). */
#ifndef FASTRLAP_PROTOCOL_H
#define FASTRLAP_PROTOCOL_H

#include <stdint.h>
#include <stddef.h>

#define PROTO_VERSION 2

/* Largest decoded frame (seq + type + body + crc) and its COBS-encoded size. */
#define PROTO_MAX_BODY 48
#define PROTO_MAX_DECODED (PROTO_MAX_BODY + 4)
#define PROTO_MAX_ENCODED (PROTO_MAX_DECODED + PROTO_MAX_DECODED / 254 + 1)
/* Encoded bytes plus both delimiters: the size of a transmit buffer for one frame. */
#define PROTO_MAX_WIRE (PROTO_MAX_ENCODED + 2)

/* Message types. Host -> firmware below 0x80, firmware -> host from 0x80. */
enum {
    MSG_HELLO = 0x01,
    MSG_COMMAND = 0x02,
    MSG_HEARTBEAT = 0x03,
    MSG_SET_CONFIG = 0x04,
    MSG_GET_CONFIG = 0x05,
    MSG_CONFIRM_CONFIG = 0x06,
    MSG_HELLO_ACK = 0x81,
    MSG_TELEMETRY = 0x82,
    MSG_HEARTBEAT_ACK = 0x83,
    MSG_CONFIG = 0x84,
    MSG_FAULT = 0x85,
};

/* Drive modes requested by the host in COMMAND. */
enum { CMD_MODE_NEUTRAL = 0, CMD_MODE_DRIVE = 1 };

/* Modes reported in TELEMETRY (the safety state machine's state). */
enum { MODE_NEUTRAL = 0, MODE_AUTO = 1, MODE_TELEOP = 2, MODE_FAILSAFE = 3 };

/* Fault bits (TELEMETRY.faults, FAULT.fault). */
enum {
    FAULT_CMD_TIMEOUT = 1u << 0,    /* host commands stopped while driving: throttle neutral */
    FAULT_RC_LOST = 1u << 1,        /* RC receiver pulses missing or out of range */
    FAULT_EEPROM_DEFAULTS = 1u << 2,/* stored calibration missing/corrupt: defaults in use */
    FAULT_WDT_RESET = 1u << 3,      /* the last reset came from the hardware watchdog */
    FAULT_RX_OVERFLOW = 1u << 4,    /* the UART receive buffer overflowed (bytes lost) */
    FAULT_IMU_ERROR = 1u << 5,      /* the IMU was detected at boot but a read failed */
};

/* TELEMETRY.flags bits. */
enum {
    TFLAG_IMU_PRESENT = 1u << 0,
    TFLAG_SESSION = 1u << 1, /* a HELLO with the matching version opened a session */
    TFLAG_RC_VALID = 1u << 2,
};

/* HELLO_ACK.caps bits. */
enum { CAP_IMU = 1u << 0, CAP_EEPROM_CONFIG = 1u << 1 };

/* CONFIG.status values: what became of a SET_CONFIG / CONFIRM_CONFIG (docs/protocol.md). */
enum {
    CONFIG_OK = 0,                 /* applied (not stored); also the answer to GET_CONFIG */
    CONFIG_INVALID = 1,            /* a pulse outside 1000..2000 us, out of order, limit > 1000 */
    CONFIG_CENTRE_OUT_OF_BAND = 2, /* steering centre or ESC neutral outside 1450..1550 us */
    CONFIG_NO_SESSION = 3,         /* no HELLO yet (or the session timed out) */
    CONFIG_RC_OVERRIDE = 4,        /* TELEOP or FAILSAFE: the transmitter owns the outputs */
    CONFIG_PENDING = 5,            /* applied; stored once CONFIRM_CONFIG echoes it in time */
    CONFIG_STORED = 6,             /* confirmed and written to EEPROM (read back intact) */
    CONFIG_NOT_PENDING = 7,        /* CONFIRM_CONFIG without a matching, unexpired SET_CONFIG */
    CONFIG_STORE_FAILED = 8,       /* the EEPROM did not read back what was written */
};

/* CONFIG.flags bits. */
enum { CAL_REVERSE_STEER = 1u << 0, CAL_REVERSE_THROTTLE = 1u << 1 };

typedef struct { uint8_t version; } msg_hello_t;

typedef struct {
    int16_t throttle; /* permille of full throttle, -1000..1000 (negative = reverse/brake) */
    int16_t steer;    /* permille of full lock, -1000..1000 (positive = left) */
    uint8_t mode;     /* CMD_MODE_* */
} msg_command_t;

typedef struct {
    uint16_t steer_min_us, steer_center_us, steer_max_us;
    uint16_t esc_min_us, esc_neutral_us, esc_max_us;
    uint16_t throttle_limit; /* permille: cap on |throttle| in AUTO */
    uint8_t flags;           /* CAL_* */
} calib_t;

typedef struct { calib_t cal; uint8_t persist; } msg_set_config_t;
typedef struct { uint8_t status; calib_t cal; } msg_config_t;

typedef struct {
    uint8_t version, fw_major, fw_minor, caps;
    uint16_t cmd_timeout_ms;
    uint8_t telemetry_hz, reset_flags;
} msg_hello_ack_t;

typedef struct {
    uint32_t uptime_ms;
    uint8_t ack_seq;   /* seq of the last accepted COMMAND */
    uint8_t mode;      /* MODE_* */
    uint16_t faults;   /* FAULT_* currently active */
    uint8_t flags;     /* TFLAG_* */
    uint16_t steer_us, esc_us;                    /* pulses being output */
    uint16_t rc_steer_us, rc_throttle_us, rc_mode_us; /* 0 = no valid signal */
    uint32_t wheel_ticks;
    uint32_t wheel_period_us; /* between the last two ticks; 0 = stopped */
    int16_t accel[3], gyro[3]; /* MPU-6050 raw counts (+-4 g, +-500 deg/s); 0 if absent */
    uint16_t rx_bad_frames;    /* frames dropped for CRC, COBS or length errors */
} msg_telemetry_t;

typedef struct { uint16_t fault; uint32_t uptime_ms; } msg_fault_t;

/* HEARTBEAT_ACK body: the seq of the HEARTBEAT it answers (round-trip measurement). */
typedef struct { uint8_t echo_seq; } msg_heartbeat_ack_t;

/* Body sizes (bytes). */
#define BODY_HELLO 1
#define BODY_COMMAND 5
#define BODY_HEARTBEAT 0
#define BODY_CALIB 15
#define BODY_SET_CONFIG (BODY_CALIB + 1)
#define BODY_GET_CONFIG 0
/* CONFIRM_CONFIG carries an echo of the calibration to store. */
#define BODY_CONFIRM_CONFIG BODY_CALIB
#define BODY_HELLO_ACK 8
#define BODY_TELEMETRY 41
#define BODY_HEARTBEAT_ACK 1
#define BODY_CONFIG (BODY_CALIB + 1)
#define BODY_FAULT 6

uint16_t proto_crc16(const uint8_t *data, size_t len);

/* COBS. Return the output length, or 0 on error (cobs_decode: malformed input or overflow). */
size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);
size_t cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* Build a complete wire frame (leading and trailing 0x00) into out; returns its length, 0 if too
 * big. */
size_t proto_frame(uint8_t seq, uint8_t type, const uint8_t *body, size_t body_len,
                   uint8_t *out, size_t out_cap);

/* Body packers return the body length; unpackers return 1 if body_len matches, else 0. */
size_t pack_hello(const msg_hello_t *m, uint8_t *b);
size_t pack_command(const msg_command_t *m, uint8_t *b);
size_t pack_calib(const calib_t *c, uint8_t *b);
size_t pack_set_config(const msg_set_config_t *m, uint8_t *b);
size_t pack_config(const msg_config_t *m, uint8_t *b);
size_t pack_hello_ack(const msg_hello_ack_t *m, uint8_t *b);
size_t pack_telemetry(const msg_telemetry_t *m, uint8_t *b);
size_t pack_fault(const msg_fault_t *m, uint8_t *b);
size_t pack_heartbeat_ack(const msg_heartbeat_ack_t *m, uint8_t *b);
int unpack_hello(const uint8_t *b, size_t n, msg_hello_t *m);
int unpack_command(const uint8_t *b, size_t n, msg_command_t *m);
int unpack_calib(const uint8_t *b, size_t n, calib_t *c);
int unpack_set_config(const uint8_t *b, size_t n, msg_set_config_t *m);
int unpack_config(const uint8_t *b, size_t n, msg_config_t *m);
int unpack_hello_ack(const uint8_t *b, size_t n, msg_hello_ack_t *m);
int unpack_telemetry(const uint8_t *b, size_t n, msg_telemetry_t *m);
int unpack_fault(const uint8_t *b, size_t n, msg_fault_t *m);
int unpack_heartbeat_ack(const uint8_t *b, size_t n, msg_heartbeat_ack_t *m);

/* Streaming receiver: feed bytes one at a time; it resynchronises on every 0x00 and ignores
 * empty frames (two delimiters in a row, as between two frames). */
typedef struct {
    uint8_t buf[PROTO_MAX_ENCODED];
    uint8_t len;
    uint8_t overflow; /* the current frame outgrew buf: drop it at the next delimiter */
    uint16_t frames_ok, crc_errors, framing_errors;
    /* The last complete frame, valid when proto_rx_feed returned 1. */
    uint8_t seq, type, body_len;
    uint8_t body[PROTO_MAX_BODY];
} proto_rx_t;

void proto_rx_init(proto_rx_t *rx);
/* Returns 1 when byte completed a valid frame (fields seq/type/body hold it), else 0. */
int proto_rx_feed(proto_rx_t *rx, uint8_t byte);

#endif
