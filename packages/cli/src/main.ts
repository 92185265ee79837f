console.log("tidemark");
