"""The sandbox: a synthetic province with its ground truth (`generator`, `names`), the HTTP
simulators of the sources (`simulators/`, one module per source, named as in
`eduhub.sources`), the xlsx class exports of the file-drop schools, and the faults a real
source shows (`faults`). For development, tests and benchmarks: installed by
requirements-dev.txt, never part of the platform's image."""
