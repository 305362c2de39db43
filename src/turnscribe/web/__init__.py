"""The live demo page's static files (index.html, *.js, style.css), served at ``/`` by
turnscribe/server/static.py. Plain HTML and JavaScript modules: nothing to build."""
