/* Hardware layer for the ATmega328P (Arduino Nano / Uno, 16 MHz): timers, pins, UART, EEPROM,
 * I2C and the watchdog. Every decision is made by the portable core (core.c); this file only
 * moves bytes, pulse widths and readings between the chip and the core.
 *
 * Pin map (docs/hardware.md has the wiring table):
 *   D9  / PB1 / OC1A   steering servo pulse out      D2  / PD2 / INT0     wheel encoder (hall)
 *   D10 / PB2 / OC1B   ESC pulse out                 D4  / PD4 / PCINT20  RC steering in
 *   A0  / PC0          LED: on while the host drives  D5  / PD5 / PCINT21  RC throttle in
 *   A4/A5 (SDA/SCL)    optional MPU-6050              D6  / PD6 / PCINT22  RC mode switch in
 *   D0/D1              UART0 to the host (USB serial), 115200 8N1
 *
 * Timer1 is both the servo PWM and the clock: the core's milliseconds are counted from its 20 ms
 * frames, so every frame starts on an exact millisecond and the core knows when a pulse it
 * chooses will be on the wire (the command watchdog's bound depends on it, see core.h). */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <util/atomic.h>
#include <util/twi.h>

#include "core.h"

#ifndef F_CPU
#error "F_CPU must be defined (the Makefile passes -DF_CPU=16000000UL)"
#endif

#define BAUD 115200UL
#define SERVO_PERIOD_TICKS 40000u /* Timer1 at 2 MHz (0.5 us per tick): 20 ms = 50 Hz */
#define TICKS_PER_MS (SERVO_PERIOD_TICKS / SERVO_FRAME_MS)
#define WHEEL_STOPPED_MS 500      /* no encoder tick for this long: speed reported as 0 */
#define MPU_ADDR 0x68
#define TWI_SPINS 2000u           /* ~1 ms per I2C step before giving up */

static const uint8_t RC_PIN[RC_CHANNELS] = {_BV(PD4), _BV(PD5), _BV(PD6)};

/* ---------------------------------------------------------------- reset cause */
/* Read and clear MCUSR before anything else so a watchdog reset cannot loop (the watchdog
 * stays enabled after a watchdog reset on this chip until it is explicitly turned off). */
uint8_t reset_flags __attribute__((section(".noinit")));
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void)
{
    reset_flags = MCUSR;
    MCUSR = 0;
    wdt_disable();
}

/* ---------------------------------------------------------------- time */
static volatile uint32_t servo_frames; /* Timer1 overflows (20 ms each) */
static volatile uint8_t tick_due;

ISR(TIMER1_OVF_vect)
{
    servo_frames++;
    tick_due = 1;
}

/* A moment on Timer1: completed servo frames and ticks into the current one. Taking one is a few
 * register reads, so interrupts stamp events with it; the division into milliseconds happens
 * later, with interrupts on (a long critical section would delay the RC edge interrupt and
 * make it mismeasure the pulse). */
typedef struct {
    uint32_t frames;
    uint16_t ticks;
} stamp_t;

/* Call with interrupts disabled. */
static stamp_t stamp_locked(void)
{
    stamp_t s = {servo_frames, TCNT1};
    if ((TIFR1 & _BV(TOV1)) && s.ticks < SERVO_PERIOD_TICKS / 2)
        s.frames++; /* the overflow happened but its interrupt has not run yet */
    return s;
}

/* Milliseconds since the servo timer started (wraps after 49 days). */
static uint32_t stamp_ms(stamp_t s) { return s.frames * SERVO_FRAME_MS + s.ticks / TICKS_PER_MS; }

static uint32_t millis(void)
{
    stamp_t s;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { s = stamp_locked(); }
    return stamp_ms(s);
}

/* ---------------------------------------------------------------- RC inputs */
static volatile uint16_t rc_rise[RC_CHANNELS];
static volatile uint16_t rc_width_us[RC_CHANNELS];
static volatile stamp_t rc_at[RC_CHANNELS];
static uint8_t rc_last_pins;

ISR(PCINT2_vect)
{
    stamp_t at = stamp_locked(); /* TCNT1 read first: the edge's time */
    uint16_t now = at.ticks;
    uint8_t pins = PIND, changed = pins ^ rc_last_pins;
    rc_last_pins = pins;
    for (uint8_t ch = 0; ch < RC_CHANNELS; ch++) {
        if (!(changed & RC_PIN[ch]))
            continue;
        if (pins & RC_PIN[ch]) {
            rc_rise[ch] = now;
        } else {
            uint16_t w = now >= rc_rise[ch] ? now - rc_rise[ch] : now + SERVO_PERIOD_TICKS - rc_rise[ch];
            rc_width_us[ch] = (w + 1) / 2;
            rc_at[ch] = at;
        }
    }
}

/* ---------------------------------------------------------------- wheel encoder */
static volatile uint32_t wheel_ticks, wheel_last_halfus, wheel_period_halfus;
static volatile stamp_t wheel_last;

ISR(INT0_vect)
{
    stamp_t at = stamp_locked();
    uint32_t now = at.frames * SERVO_PERIOD_TICKS + at.ticks; /* 0.5 us ticks, wraps every 36 min */
    if (wheel_ticks)
        wheel_period_halfus = now - wheel_last_halfus;
    wheel_last_halfus = now;
    wheel_last = at;
    wheel_ticks++;
}

/* ---------------------------------------------------------------- UART */
#define RX_SIZE 128
#define TX_SIZE 256
static volatile uint8_t rx_buf[RX_SIZE], rx_head, rx_tail, rx_overflow;
static volatile uint8_t tx_buf[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;

ISR(USART_RX_vect)
{
    uint8_t b = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) % RX_SIZE);
    if (next == rx_tail) {
        rx_overflow = 1;
        return;
    }
    rx_buf[rx_head] = b;
    rx_head = next;
}

ISR(USART_UDRE_vect)
{
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_buf[tx_tail];
    tx_tail = (uint8_t)(tx_tail + 1); /* TX_SIZE is 256: wraps by itself */
}

static void uart_send(void *ctx, const uint8_t *wire, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        uint8_t next = (uint8_t)(tx_head + 1);
        while (next == tx_tail)
            wdt_reset(); /* wait for the transmitter: at most one buffer, ~22 ms */
        tx_buf[tx_head] = wire[i];
        tx_head = next;
        UCSR0B |= _BV(UDRIE0);
    }
}

static int uart_read(uint8_t *b)
{
    int got = 0;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        if (rx_head != rx_tail) {
            *b = rx_buf[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) % RX_SIZE);
            got = 1;
        }
    }
    return got;
}

/* ---------------------------------------------------------------- EEPROM */
#define EEPROM_CAL_ADDR ((uint8_t *)0)

static int eeprom_save(void *ctx, const calib_t *cal)
{
    (void)ctx;
    uint8_t img[CAL_IMAGE_SIZE], back[CAL_IMAGE_SIZE];
    calib_t check;
    calib_to_image(cal, img);
    eeprom_update_block(img, EEPROM_CAL_ADDR, sizeof img);
    eeprom_read_block(back, EEPROM_CAL_ADDR, sizeof back);
    return calib_from_image(back, &check);
}

/* ---------------------------------------------------------------- MPU-6050 over I2C */
static uint8_t twi_wait(void)
{
    for (uint16_t i = 0; i < TWI_SPINS; i++)
        if (TWCR & _BV(TWINT))
            return TW_STATUS;
    return 0xFF; /* timeout: no device, or the bus is stuck */
}

static void twi_stop(void) { TWCR = _BV(TWINT) | _BV(TWEN) | _BV(TWSTO); }

static uint8_t twi_start(uint8_t addr_rw)
{
    TWCR = _BV(TWINT) | _BV(TWSTA) | _BV(TWEN);
    uint8_t s = twi_wait();
    if (s != TW_START && s != TW_REP_START)
        return 0;
    TWDR = addr_rw;
    TWCR = _BV(TWINT) | _BV(TWEN);
    s = twi_wait();
    return s == TW_MT_SLA_ACK || s == TW_MR_SLA_ACK;
}

static uint8_t twi_write_byte(uint8_t b)
{
    TWDR = b;
    TWCR = _BV(TWINT) | _BV(TWEN);
    return twi_wait() == TW_MT_DATA_ACK;
}

static uint8_t mpu_write(uint8_t reg, uint8_t val)
{
    uint8_t ok = twi_start((MPU_ADDR << 1) | TW_WRITE) && twi_write_byte(reg) && twi_write_byte(val);
    twi_stop();
    return ok;
}

static uint8_t mpu_read(uint8_t reg, uint8_t *out, uint8_t n)
{
    uint8_t ok = twi_start((MPU_ADDR << 1) | TW_WRITE) && twi_write_byte(reg) &&
                 twi_start((MPU_ADDR << 1) | TW_READ);
    for (uint8_t i = 0; ok && i < n; i++) {
        TWCR = _BV(TWINT) | _BV(TWEN) | (i + 1 < n ? _BV(TWEA) : 0);
        uint8_t s = twi_wait();
        ok = s == TW_MR_DATA_ACK || s == TW_MR_DATA_NACK;
        out[i] = TWDR;
    }
    twi_stop();
    return ok;
}

static uint8_t mpu_detect(void)
{
    uint8_t who = 0;
    TWSR = 0;
    TWBR = (uint8_t)((F_CPU / 400000UL - 16) / 2); /* 400 kHz */
    TWCR = _BV(TWEN);
    if (!mpu_read(0x75, &who, 1) || (who != 0x68 && who != 0x70 && who != 0x72))
        return 0;
    return mpu_write(0x6B, 0x01) && /* wake, clock from the X gyro PLL */
           mpu_write(0x1A, 0x03) && /* 44 Hz low-pass */
           mpu_write(0x1B, 0x08) && /* +-500 deg/s */
           mpu_write(0x1C, 0x08);   /* +-4 g */
}

static uint8_t mpu_sample(sensors_t *s)
{
    uint8_t raw[14];
    if (!mpu_read(0x3B, raw, sizeof raw))
        return 0;
    for (uint8_t i = 0; i < 3; i++) {
        s->accel[i] = (int16_t)((raw[2 * i] << 8) | raw[2 * i + 1]);
        s->gyro[i] = (int16_t)((raw[8 + 2 * i] << 8) | raw[9 + 2 * i]);
    }
    return 1;
}

/* ---------------------------------------------------------------- set-up */
static void outputs_init(uint16_t steer_us, uint16_t esc_us)
{
    /* Fast PWM with ICR1 as TOP (mode 14), clear OC1A/OC1B on compare match, clk/8. */
    TCCR1A = _BV(COM1A1) | _BV(COM1B1) | _BV(WGM11);
    TCCR1B = _BV(WGM13) | _BV(WGM12);
    ICR1 = SERVO_PERIOD_TICKS - 1;
    OCR1A = steer_us * 2;
    OCR1B = esc_us * 2;
    TIMSK1 = _BV(TOIE1);
    /* Pins low until the first period: the first pulse an ESC sees is a full neutral one. */
    DDRB |= _BV(PB1) | _BV(PB2);
    DDRC |= _BV(PC0);
    TCCR1B |= _BV(CS11); /* start the clock last, with every register in place */
}

static void inputs_init(void)
{
    DDRD &= (uint8_t)~(_BV(PD2) | _BV(PD4) | _BV(PD5) | _BV(PD6));
    PORTD |= _BV(PD2); /* pull-up for an open-collector hall sensor */
    rc_last_pins = PIND;
    PCMSK2 = _BV(PCINT20) | _BV(PCINT21) | _BV(PCINT22);
    PCICR = _BV(PCIE2);
    EICRA = _BV(ISC01); /* INT0 on the falling edge */
    EIMSK = _BV(INT0);
}

static void uart_init(void)
{
    UCSR0A = _BV(U2X0);
    UBRR0 = (uint16_t)((F_CPU + 4 * BAUD) / (8 * BAUD) - 1);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

/* Snapshot the inputs; returns the time, read after the snapshot so that no input carries a
 * later stamp than it (a pulse stamped "in the future" would look 49 days old: lost). */
static uint32_t read_inputs(rc_input_t *rc, sensors_t *s)
{
    stamp_t rc_stamp[RC_CHANNELS], wheel_stamp;
    uint32_t period_halfus;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        for (uint8_t ch = 0; ch < RC_CHANNELS; ch++) {
            rc->width_us[ch] = rc_width_us[ch];
            rc_stamp[ch] = rc_at[ch];
        }
        s->wheel_ticks = wheel_ticks;
        wheel_stamp = wheel_last;
        period_halfus = wheel_period_halfus;
    }
    uint32_t now = millis();
    for (uint8_t ch = 0; ch < RC_CHANNELS; ch++)
        rc->at_ms[ch] = stamp_ms(rc_stamp[ch]);
    s->wheel_period_us = (uint32_t)(now - stamp_ms(wheel_stamp)) > WHEEL_STOPPED_MS ? 0 : period_halfus / 2;
    return now;
}

static core_t core;

int main(void)
{
    calib_t cal;
    uint8_t img[CAL_IMAGE_SIZE];
    uint16_t boot_faults = 0;
    uint8_t caps = 0;

    eeprom_read_block(img, EEPROM_CAL_ADDR, sizeof img);
    if (calib_from_image(img, &cal)) {
        caps |= CAP_EEPROM_CONFIG;
    } else {
        calib_defaults(&cal);
        boot_faults |= FAULT_EEPROM_DEFAULTS;
    }
    if (reset_flags & _BV(WDRF))
        boot_faults |= FAULT_WDT_RESET;

    outputs_init(cal.steer_center_us, cal.esc_neutral_us); /* neutral from the first pulse */
    inputs_init();
    uart_init();
    wdt_enable(WDTO_250MS);
    sei();

    uint8_t imu = mpu_detect();
    if (imu)
        caps |= CAP_IMU;
    core_init(&core, &cal, boot_faults, caps, reset_flags,
              (core_io_t){.send = uart_send, .save_calib = eeprom_save, .ctx = 0});

    rc_input_t rc = {{0}, {0}};
    sensors_t sensors = {0, 0, {0, 0, 0}, {0, 0, 0}};
    uint16_t steer_out = cal.steer_center_us, esc_out = cal.esc_neutral_us;
    set_sleep_mode(SLEEP_MODE_IDLE);
    for (;;) {
        wdt_reset();
        uint8_t b;
        uint32_t rx_now = millis(); /* a burst of bytes is handled well within a millisecond */
        while (uart_read(&b))
            core_feed_byte(&core, rx_now, b);
        if (rx_overflow) {
            rx_overflow = 0;
            core_raise_fault(&core, millis(), FAULT_RX_OVERFLOW);
        }
        if (tick_due) {
            tick_due = 0;
            uint32_t now = read_inputs(&rc, &sensors); /* this frame's start, to the millisecond */
            if (imu && !mpu_sample(&sensors))
                core_raise_fault(&core, now, FAULT_IMU_ERROR);
            core_step(&core, now, &rc, &sensors);
            core_send_telemetry(&core, now);
        }
        /* OCR1x are double-buffered in fast PWM: a new width starts with the next period.
         * Written only on change, which also keeps simavr's timer model from re-timing. */
        if (core.steer_us != steer_out) {
            steer_out = core.steer_us;
            OCR1A = steer_out * 2;
        }
        if (core.esc_us != esc_out) {
            esc_out = core.esc_us;
            OCR1B = esc_out * 2;
        }
        /* The LED sits on port C: no port B write may happen while Timer1 owns PB1/PB2. */
        if (core.mode == MODE_AUTO)
            PORTC |= _BV(PC0);
        else
            PORTC &= (uint8_t)~_BV(PC0);

        cli();
        if (rx_head == rx_tail && !tick_due) {
            sleep_enable();
            sei(); /* the instruction after sei runs before any interrupt: no lost wake-up */
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}
