"""The field console: a web page the person at the track opens on a phone.

During practice the page shows the car's camera, the supervisor's mode, laps and the learner
and carries an e-stop; for a finished run (`fastrlap console run_dir=...`) it replays the logs,
read-only. `feed` holds the live figures, `remote` the page's e-stop latch, `server` the web
server and `replay` the figures of a finished run.
"""
